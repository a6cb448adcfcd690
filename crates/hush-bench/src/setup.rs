//! Signing in and seeding apps with generated secrets and app tokens.

use hush_client::api::Client;

use crate::stats::{doc_with_value, make_toml};

pub async fn login(server: &str, user: &str, password: &str) -> anyhow::Result<()> {
    let client = Client::new(server, None)?;
    let token = client.login(user, password, "bench").await?;
    println!("{}", token.token);
    Ok(())
}

pub async fn seed(
    server: &str,
    pat: &str,
    app: &str,
    keys: usize,
    with_value: bool,
) -> anyhow::Result<()> {
    let client = Client::new(server, Some(pat.to_string()))?;
    let toml = if with_value {
        doc_with_value(keys, "initial")
    } else {
        make_toml(keys)
    };
    client.create_app(app, Some(&toml), None).await?;
    let token = client.create_app_token(app, "bench", None).await?;
    println!("{}", token.token);
    Ok(())
}
