use crate::{CheckError, CheckOut, Ctx};

pub async fn check(_ctx: &Ctx<'_>) -> CheckOut {
    Err(CheckError::Protocol(
        "ldap check not implemented yet".into(),
    ))
}
