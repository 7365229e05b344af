//! `ssl.principal.mapping.rules`: Kafka's rules mapping a client certificate's subject
//! (RFC 2253, e.g. `CN=alice,OU=eng,O=Acme`) to a principal name.
//!
//! Rules are tried in order: `DEFAULT` takes the subject as it is; `RULE:pattern/replacement/`
//! applies when the pattern matches the whole subject, replaces (`$1` names a group), and an
//! optional trailing `L` or `U` lower- or upper-cases the result. A subject no rule matches
//! fails authentication, as in Kafka.

use regex::Regex;

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace {
        pattern: Regex,
        replacement: String,
        case: Case,
    },
}

#[derive(Debug, Clone, Copy)]
enum Case {
    Keep,
    Lower,
    Upper,
}

/// The parsed rules.
#[derive(Debug, Clone)]
pub struct PrincipalRules(Vec<Rule>);

impl Default for PrincipalRules {
    fn default() -> Self {
        PrincipalRules(vec![Rule::Default])
    }
}

impl PrincipalRules {
    pub fn parse(text: &str) -> Result<PrincipalRules, String> {
        let mut rules = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
            if rest.is_empty() {
                break;
            }
            if let Some(after) = rest.strip_prefix("DEFAULT") {
                rules.push(Rule::Default);
                rest = after;
                continue;
            }
            let Some(after) = rest.strip_prefix("RULE:") else {
                return Err(format!(
                    "expected DEFAULT or RULE:pattern/replacement/ at `{rest}`"
                ));
            };
            let (pattern, after) = after
                .split_once('/')
                .ok_or("a RULE needs pattern/replacement/")?;
            let (replacement, after) = after
                .split_once('/')
                .ok_or("a RULE needs pattern/replacement/")?;
            let (case, after) = match after.chars().next() {
                Some('L') => (Case::Lower, &after[1..]),
                Some('U') => (Case::Upper, &after[1..]),
                _ => (Case::Keep, after),
            };
            // The pattern must match the whole subject, like Java's Matcher.matches().
            let pattern = Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| format!("bad pattern `{pattern}`: {e}"))?;
            rules.push(Rule::Replace {
                pattern,
                replacement: java_replacement(replacement),
                case,
            });
            rest = after;
        }
        if rules.is_empty() {
            return Err("no rules".into());
        }
        Ok(PrincipalRules(rules))
    }

    /// The principal name for a certificate subject; `None` when no rule matches.
    pub fn apply(&self, subject: &str) -> Option<String> {
        for rule in &self.0 {
            match rule {
                Rule::Default => return Some(subject.to_string()),
                Rule::Replace {
                    pattern,
                    replacement,
                    case,
                } => {
                    if !pattern.is_match(subject) {
                        continue;
                    }
                    let out = pattern.replace_all(subject, replacement.as_str());
                    return Some(match case {
                        Case::Keep => out.into_owned(),
                        Case::Lower => out.to_lowercase(),
                        Case::Upper => out.to_uppercase(),
                    });
                }
            }
        }
        None
    }
}

/// Java's `$1` group references as the regex crate's `${1}` (so `$1x` is not read as a
/// group named `1x`).
fn java_replacement(r: &str) -> String {
    let mut out = String::with_capacity(r.len());
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push_str("${");
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                out.push(d);
                chars.next();
            }
            out.push('}');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keeps_the_subject() {
        let r = PrincipalRules::parse("DEFAULT").unwrap();
        assert_eq!(r.apply("CN=alice,O=Acme").unwrap(), "CN=alice,O=Acme");
    }

    #[test]
    fn rules_apply_in_order_with_case() {
        let r = PrincipalRules::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=([a-zA-Z]+),O=(.*)$/$1@$2/L,DEFAULT",
        )
        .unwrap();
        assert_eq!(r.apply("CN=svc,OU=ServiceUsers,O=Acme").unwrap(), "svc");
        assert_eq!(r.apply("CN=Alice,O=Acme").unwrap(), "alice@acme");
        assert_eq!(r.apply("OU=x").unwrap(), "OU=x");
    }

    #[test]
    fn no_matching_rule_is_none_and_bad_rules_are_refused() {
        let r = PrincipalRules::parse("RULE:^CN=(.*)$/$1/").unwrap();
        assert!(r.apply("O=Acme").is_none());
        assert!(PrincipalRules::parse("NOPE").is_err());
        assert!(PrincipalRules::parse("RULE:abc").is_err());
    }
}
