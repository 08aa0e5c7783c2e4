//! Only integration tests live in this package (see tests/).
