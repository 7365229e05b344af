//! Subscriptions resolved against the cluster's topics: names, and regular
//! expressions evaluated on the broker (KIP-848).
//!
//! Kafka compiles KIP-848 regexes with Google's RE2/J and requires the whole topic
//! name to match (`Matcher.matches`). Fjord uses the `regex` crate, whose syntax is
//! RE2's, anchored the same way (`^(?:re)$`). Known differences: `\Q...\E` quoting and
//! `\C` (any byte) are RE2/J-only, so such a pattern is refused with
//! INVALID_REGULAR_EXPRESSION here; Unicode classes follow Unicode 15 (`regex`) rather
//! than the JDK's tables; a pattern whose compiled program exceeds 1 MiB is refused
//! (RE2/J has no such bound). Internal topics never match, as in Kafka.

use crate::assignment::TopicId;
use crate::error::GroupError;
use std::collections::BTreeMap;

/// Topics that regex subscriptions never match.
const INTERNAL_TOPICS: [&str; 3] = [
    "__consumer_offsets",
    "__transaction_state",
    "__share_group_state",
];

/// Bound on a compiled pattern: the regex comes from a client.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The cluster's topics as a heartbeat sees them: name -> (id, partitions).
#[derive(Debug, Clone, Default)]
pub struct Topics {
    by_name: BTreeMap<String, (TopicId, i32)>,
    names: BTreeMap<TopicId, String>,
}

impl Topics {
    pub fn new(topics: impl IntoIterator<Item = (String, TopicId, i32)>) -> Topics {
        let mut t = Topics::default();
        for (name, id, partitions) in topics {
            t.names.insert(id, name.clone());
            t.by_name.insert(name, (id, partitions));
        }
        t
    }

    pub fn get(&self, name: &str) -> Option<(TopicId, i32)> {
        self.by_name.get(name).copied()
    }

    pub fn name_of(&self, id: &TopicId) -> Option<&str> {
        self.names.get(id).map(String::as_str)
    }

    pub fn partitions_of(&self, id: &TopicId) -> Option<i32> {
        self.name_of(id).and_then(|n| self.get(n)).map(|(_, p)| p)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}

/// Compiles a subscription regex with Kafka's whole-name semantics.
pub fn compile(regex: &str) -> Result<regex::Regex, GroupError> {
    regex::RegexBuilder::new(&format!("^(?:{regex})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            GroupError::InvalidRegularExpression(format!(
                "SubscribedTopicRegex `{regex}` is not a valid regular expression: {e}."
            ))
        })
}

/// The non-internal topic names a compiled regex matches.
pub fn matching<'a>(re: &'a regex::Regex, topics: &'a Topics) -> impl Iterator<Item = &'a str> {
    topics
        .names()
        .filter(|n| !INTERNAL_TOPICS.contains(n))
        .filter(move |n| re.is_match(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_match_whole_names_and_skip_internal_topics() {
        let id = |n: u8| uuid::Uuid::from_bytes([n; 16]);
        let topics = Topics::new([
            ("orders".to_string(), id(1), 1),
            ("orders-eu".to_string(), id(2), 1),
            ("old-orders".to_string(), id(3), 1),
            ("__consumer_offsets".to_string(), id(4), 50),
        ]);
        let re = compile("orders.*").unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<&str> = matching(&re, &topics).collect();
        assert_eq!(got, vec!["orders", "orders-eu"]);
        let all = compile(".*").unwrap_or_else(|e| panic!("{e}"));
        assert!(!matching(&all, &topics).any(|n| n.starts_with("__")));
        assert!(matches!(
            compile("orders("),
            Err(GroupError::InvalidRegularExpression(_))
        ));
        assert!(
            compile(r"\Qa.b\E").is_err(),
            "RE2/J-only quoting is refused"
        );
    }
}
