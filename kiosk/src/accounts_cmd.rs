//! `kiosk accounts add NAME [--role nurse|admin]` and `kiosk accounts register-kiosk ID`.

use std::io::{BufRead, Write};

use anyhow::Context as _;
use store::SqliteStore;
use store::accounts::{Policy, Role};

use crate::cli::AccountsAction;
use crate::config::Config;

/// Runs an accounts action on the station's store. Passwords come from `input`, never the command
/// line (which other users can see).
pub fn run(
    config: &Config,
    action: AccountsAction,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut store = SqliteStore::open(&crate::console::store_path(&config.data_dir))?;
    let admin = store::Actor::Staff("local-admin".into());
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64)?;
    match action {
        AccountsAction::Add { name, role } => {
            let role = match role.as_str() {
                "nurse" => Role::Nurse,
                "admin" => Role::Admin,
                other => anyhow::bail!("unknown role {other:?}: use nurse or admin"),
            };
            writeln!(out, "password for {name} (one line):")?;
            let mut password = String::new();
            input.read_line(&mut password).context("cannot read the password")?;
            let password = password.trim_end_matches(['\n', '\r']);
            store
                .set_account(&name, role, password, &Policy::default(), &admin, now)?
                .map_err(anyhow::Error::msg)?;
            writeln!(out, "account {name} saved")?;
        }
        AccountsAction::RegisterKiosk { id } => {
            let token = store.register_device(&id, &admin, now)?;
            writeln!(out, "kiosk {id} registered; its device token (shown once):\n{token}")?;
        }
    }
    Ok(())
}
