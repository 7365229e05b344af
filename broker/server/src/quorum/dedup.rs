//! Forwarded commands run at most once, so a retry after a lost answer gets the
//! answer of the first attempt, not a refusal caused by its own success.
//!
//! A broker forwards an admin command to the active controller and, if the connection
//! fails before the answer arrives, sends it again. Without this the second attempt
//! of a CreateTopics that did commit answers TOPIC_ALREADY_EXISTS. Two guards:
//! - every forwarded command carries a request id; the controller remembers the
//!   result of each id for [`WINDOW`] (at most [`MAX_REMEMBERED`] ids), and a retry
//!   that arrives while the first is still running waits for its result;
//! - a CreateTopic names its topic id, so a retry that reaches a new controller (the
//!   old one died after committing) finds the topic with that very id in the image
//!   and is answered as the success it was.
//!
//! A result that says nothing is known to have happened (not the controller, or a
//! commit that timed out) is not remembered: a retry then runs again.

use super::controller::{Command, CommandResult, Controller, Done};
use kafka_protocol::error::ResponseError;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;
use uuid::Uuid;

/// How long a forwarded command's result is remembered: longer than any client retries.
pub const WINDOW: Duration = Duration::from_secs(120);
/// Bound on remembered results (each is small); the oldest go first.
pub const MAX_REMEMBERED: usize = 10_000;

type Cell = Arc<OnceCell<CommandResult>>;

/// The results of recently forwarded commands, by request id. Safe to share.
#[derive(Default)]
pub struct Dedup {
    entries: parking_lot::Mutex<HashMap<Uuid, (Instant, Cell)>>,
}

impl Dedup {
    /// Runs `cmd` once per `request_id` within the window.
    pub async fn execute(&self, c: &Controller, request_id: Uuid, cmd: Command) -> CommandResult {
        let cell = self.cell(request_id, Instant::now());
        let result = cell
            .get_or_init(|| execute_idempotent(c, cmd))
            .await
            .clone();
        if !is_definite(&result) {
            self.entries.lock().remove(&request_id);
        }
        result
    }

    fn cell(&self, id: Uuid, now: Instant) -> Cell {
        let mut map = self.entries.lock();
        map.retain(|_, (at, _)| now.saturating_duration_since(*at) < WINDOW);
        if map.len() >= MAX_REMEMBERED && !map.contains_key(&id) {
            if let Some(oldest) = map.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.entry(id)
            .or_insert_with(|| (now, Arc::new(OnceCell::new())))
            .1
            .clone()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().len()
    }
}

/// Whether a result says what happened (done, or refused for a reason that stays).
fn is_definite(r: &CommandResult) -> bool {
    match r {
        Ok(_) => true,
        Err(e) => {
            e.code != ResponseError::NotController.code()
                && e.code != ResponseError::RequestTimedOut.code()
        }
    }
}

/// Executes `cmd` on this controller; a CreateTopic refused because its own topic id
/// already exists (an earlier attempt committed) is answered as done.
pub async fn execute_idempotent(c: &Controller, cmd: Command) -> CommandResult {
    let result = c.execute(cmd.clone()).await;
    match (&result, &cmd) {
        (Err(e), Command::CreateTopic { topic, id, .. })
            if e.code == ResponseError::TopicAlreadyExists.code() =>
        {
            let applied = c.applied.borrow().clone();
            match applied.image.topic(&topic.name) {
                Some(t) if t.id == *id => Ok(Done {
                    index: applied.index,
                    replicas: t.replicas.clone(),
                    ..Done::default()
                }),
                _ => result,
            }
        }
        _ => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::controller::Refusal;

    #[test]
    fn only_definite_results_are_remembered() {
        assert!(is_definite(&Ok(Done::default())));
        assert!(is_definite(&Err(Refusal::new(
            ResponseError::TopicAlreadyExists,
            "x"
        ))));
        assert!(!is_definite(&Err(Refusal::new(
            ResponseError::NotController,
            "x"
        ))));
        assert!(!is_definite(&Err(Refusal::new(
            ResponseError::RequestTimedOut,
            "x"
        ))));
    }

    #[test]
    fn the_same_request_id_shares_one_result_and_old_ids_are_forgotten() {
        let d = Dedup::default();
        let now = Instant::now();
        let a = d.cell(Uuid::from_u128(1), now);
        let again = d.cell(Uuid::from_u128(1), now);
        assert!(Arc::ptr_eq(&a, &again));
        let later = now + WINDOW + Duration::from_secs(1);
        let fresh = d.cell(Uuid::from_u128(1), later);
        assert!(!Arc::ptr_eq(&a, &fresh));
        assert_eq!(d.len(), 1);
    }
}
