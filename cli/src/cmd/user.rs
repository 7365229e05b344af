//! `fjord user list|describe|set-password|delete`: SCRAM credentials (KIP-554).

use std::io::BufRead;

use fjord_client::security::scram::ScramHash;
use fjord_client::{AdminClient, ScramAlteration, UserScramCredentials};
use serde::Serialize;

use crate::args::{SetPasswordArgs, UserCommand};
use crate::failure::Usage;
use crate::output::{self, Format, Report};
use crate::table;

#[derive(Debug, Serialize)]
struct User {
    user: String,
    credentials: Vec<Credential>,
}

#[derive(Debug, Serialize)]
struct Credential {
    mechanism: &'static str,
    iterations: i32,
}

impl From<UserScramCredentials> for User {
    fn from(u: UserScramCredentials) -> Self {
        User {
            user: u.user,
            credentials: u
                .credentials
                .into_iter()
                .map(|(hash, iterations)| Credential {
                    mechanism: hash.mechanism(),
                    iterations,
                })
                .collect(),
        }
    }
}

fn rows(users: &[User]) -> Vec<Vec<String>> {
    users
        .iter()
        .flat_map(|u| {
            u.credentials.iter().map(|c| {
                vec![
                    u.user.clone(),
                    c.mechanism.to_owned(),
                    c.iterations.to_string(),
                ]
            })
        })
        .collect()
}

const HEADERS: [&str; 3] = ["USER", "MECHANISM", "ITERATIONS"];

#[derive(Debug, Serialize)]
struct Users {
    users: Vec<User>,
}

impl Report for Users {
    fn human(&self) -> String {
        table::render(&HEADERS, &rows(&self.users))
    }
}

impl Report for User {
    fn human(&self) -> String {
        table::render(&HEADERS, &rows(std::slice::from_ref(self)))
    }
}

#[derive(Debug, Serialize)]
struct Changed {
    user: String,
    action: &'static str,
    mechanisms: Vec<&'static str>,
}

impl Report for Changed {
    fn human(&self) -> String {
        format!(
            "{} {} credential(s) of {}\n",
            self.action,
            self.mechanisms.join(", "),
            self.user
        )
    }
}

pub async fn run(admin: &AdminClient, command: UserCommand, format: Format) -> anyhow::Result<()> {
    match command {
        UserCommand::List => {
            let users = admin.describe_user_scram_credentials(None).await?;
            let report = Users {
                users: users.into_iter().map(User::from).collect(),
            };
            output::print(&report, format)
        }
        UserCommand::Describe { user } => {
            let found = admin
                .describe_user_scram_credentials(Some(std::slice::from_ref(&user)))
                .await?;
            let user = found.into_iter().next().map(User::from).unwrap_or(User {
                user,
                credentials: Vec::new(),
            });
            output::print(&user, format)
        }
        UserCommand::SetPassword(a) => set_password(admin, a, format).await,
        UserCommand::Delete { user, mechanism } => {
            let hashes = if mechanism.is_empty() {
                let found = admin
                    .describe_user_scram_credentials(Some(std::slice::from_ref(&user)))
                    .await?;
                found
                    .into_iter()
                    .flat_map(|u| u.credentials)
                    .map(|(hash, _)| hash)
                    .collect()
            } else {
                hashes(&mechanism)?
            };
            let changes: Vec<ScramAlteration> = hashes
                .iter()
                .map(|&hash| ScramAlteration::Delete {
                    user: user.clone(),
                    hash,
                })
                .collect();
            alter_each(admin, &changes).await?;
            let report = Changed {
                user,
                action: "deleted",
                mechanisms: hashes.iter().map(|h| h.mechanism()).collect(),
            };
            output::print(&report, format)
        }
    }
}

async fn set_password(
    admin: &AdminClient,
    a: SetPasswordArgs,
    format: Format,
) -> anyhow::Result<()> {
    let hashes = hashes(&a.mechanism)?;
    for h in &hashes {
        let (min, max) = (h.min_iterations(), h.max_iterations());
        if !(min..=max).contains(&a.iterations) {
            return Err(Usage(format!(
                "--iterations {} is outside {min}..={max} for {}",
                a.iterations,
                h.mechanism()
            ))
            .into());
        }
    }
    let password = match a.password {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if password.is_empty() {
        return Err(
            Usage("the password is empty (give --password or a line on stdin)".into()).into(),
        );
    }
    let changes: Vec<ScramAlteration> = hashes
        .iter()
        .map(|&hash| ScramAlteration::Upsert {
            user: a.user.clone(),
            hash,
            password: password.clone(),
            iterations: a.iterations,
        })
        .collect();
    alter_each(admin, &changes).await?;
    let report = Changed {
        user: a.user,
        action: "set",
        mechanisms: hashes.iter().map(|h| h.mechanism()).collect(),
    };
    output::print(&report, format)
}

/// One request per change: brokers refuse a request that alters one user twice
/// (DUPLICATE_RESOURCE), even for two mechanisms.
async fn alter_each(admin: &AdminClient, changes: &[ScramAlteration]) -> anyhow::Result<()> {
    for change in changes {
        admin
            .alter_user_scram_credentials(std::slice::from_ref(change))
            .await?;
    }
    Ok(())
}

fn hashes(names: &[String]) -> anyhow::Result<Vec<ScramHash>> {
    let mut out = Vec::new();
    for n in names {
        let h = ScramHash::from_mechanism(n).ok_or_else(|| {
            Usage(format!(
                "--mechanism {n:?} is not SCRAM-SHA-256 or SCRAM-SHA-512"
            ))
        })?;
        if !out.contains(&h) {
            out.push(h);
        }
    }
    Ok(out)
}
