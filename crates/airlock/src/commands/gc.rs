//! `airlock gc`: removes the containers crashed runs left behind (labelled `airlock`).

use crate::commands::report_error;

pub async fn run(all: bool) -> u8 {
    let result = async {
        let docker = airlock_sandbox::connect().await?;
        let removed = airlock_sandbox::gc(&docker, all).await?;
        println!("removed {} container(s)", removed.len());
        anyhow::Ok(())
    }
    .await;
    report_error(result)
}
