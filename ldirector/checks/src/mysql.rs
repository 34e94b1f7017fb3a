use crate::{CheckError, CheckOut, Ctx};

pub async fn check(_ctx: &Ctx<'_>) -> CheckOut {
    Err(CheckError::Protocol(
        "mysql check not implemented yet".into(),
    ))
}
