//! `airlock image tag|ensure`: the sandbox image of this build's recipe.

use crate::commands::report_error;
use crate::ImageAction;

pub async fn run(action: ImageAction) -> u8 {
    match action {
        ImageAction::Tag => {
            println!("{}", airlock_sandbox::image_tag());
            0
        }
        ImageAction::Ensure => {
            let result = async {
                let docker = airlock_sandbox::connect().await?;
                let tag = airlock_sandbox::ensure_image(&docker).await?;
                println!("{tag}");
                anyhow::Ok(())
            }
            .await;
            report_error(result)
        }
    }
}
