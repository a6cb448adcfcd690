//! The Python snippet from Streamlit's "Secrets management" page, line by line, in Rust.
//!
//! Put this in `.streamlit/secrets.toml` (or run under `hush run`):
//!
//! ```toml
//! db_username = "Jane"
//! db_password = "12345qwerty"
//!
//! [my_cool_secrets]
//! things_i_like = ["Streamlit", "Python"]
//!
//! [db_credentials]
//! username = "my_username"
//! password = "my_password"
//! ```
//!
//! then `cargo run -p hush-client --example streamlit_seed`.

use hush_client::secrets::{Secrets, SecretsError};
use serde::Deserialize;

// my_db.connect(username=..., password=...)
#[derive(Deserialize)]
struct DbCredentials {
    username: String,
    password: String,
}

fn connect(creds: &DbCredentials) {
    println!(
        "Connecting as {} (password of {} characters)",
        creds.username,
        creds.password.chars().count()
    );
}

fn main() {
    if let Err(err) = run() {
        eprintln!("{err}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), SecretsError> {
    // import streamlit as st
    let secrets = Secrets::load()?;

    // Everything is accessible via the st.secrets dict:
    // st.write("DB username:", st.secrets["db_username"])
    println!(
        "DB username: {}",
        secrets["db_username"].as_str().unwrap_or_default()
    );
    // st.write("DB password:", st.secrets["db_password"])
    println!(
        "DB password: {}",
        secrets["db_password"].as_str().unwrap_or_default()
    );
    // st.write("My cool secrets:", st.secrets["my_cool_secrets"]["things_i_like"])
    let things: Vec<String> = secrets.get_path("my_cool_secrets.things_i_like")?;
    println!("My cool secrets: {things:?}");

    // And the root-level secrets are also accessible as environment variables
    // (`hush run` exports them before it starts the app):
    // os.environ["db_username"] == st.secrets["db_username"]
    println!(
        "Has environment variables been set: {}",
        std::env::var("db_username").ok().as_deref() == secrets["db_username"].as_str()
    );

    // Verbose version:
    // my_db.connect(username=st.secrets.db_credentials.username, password=st.secrets.db_credentials.password)
    connect(&DbCredentials {
        username: secrets.get_path("db_credentials.username")?,
        password: secrets.get_path("db_credentials.password")?,
    });
    // Far more compact version: my_db.connect(**st.secrets.db_credentials)
    connect(&secrets.section::<DbCredentials>("db_credentials")?);
    Ok(())
}
