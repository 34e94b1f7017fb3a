use crate::{CheckError, CheckOut, Ctx};

pub async fn check(_ctx: &Ctx<'_>) -> CheckOut {
    Err(CheckError::Protocol(
        "radius check not implemented yet".into(),
    ))
}
