//! How citas stores its entities, written once: the items of seed 000's
//! tables (with their mapping to and from the domain) and the key and
//! index formats. The DynamoDB adapter, the embedded store, the seed
//! loader and the bench use these; nothing here knows the AWS SDK.

pub mod items;
pub mod keys;
