//! The user pool's administrator calls the post confirmation trigger makes:
//! a confirmed user gets their country and document (attributes the app
//! client may not write) and joins their group. Both calls are idempotent,
//! so a retried trigger does no harm.

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::types::AttributeType;
use citas_domain::StoreError;
use citas_domain::access::claim;
use citas_domain::account::PoolUser;
use citas_domain::use_cases::accounts::UserDirectory;

use crate::errors::backend;

#[derive(Debug, Clone)]
pub struct CognitoDirectory {
    client: Client,
}

impl CognitoDirectory {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn attribute(name: &str, value: &str) -> Result<AttributeType, StoreError> {
    AttributeType::builder()
        .name(name)
        .value(value)
        .build()
        .map_err(backend)
}

#[async_trait]
impl UserDirectory for CognitoDirectory {
    async fn enrol(
        &self,
        user_pool: &str,
        username: &str,
        user: &PoolUser,
    ) -> Result<(), StoreError> {
        self.client
            .admin_update_user_attributes()
            .user_pool_id(user_pool)
            .username(username)
            .user_attributes(attribute(claim::COUNTRY, user.country.code)?)
            .user_attributes(attribute(claim::DOCUMENT, user.document_claim())?)
            .send()
            .await
            .map_err(backend)?;
        self.client
            .admin_add_user_to_group()
            .user_pool_id(user_pool)
            .username(username)
            .group_name(user.role().as_str())
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}
