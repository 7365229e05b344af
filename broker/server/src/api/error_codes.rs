//! Every Kafka error code a response carries, for the per-API error metric.
//!
//! One impl per served response type: it walks the nesting that API uses (top
//! level, per topic, per partition, per group, per member).

use kafka_protocol::messages as m;

/// Calls `f` with every error code in a response, zeros included.
pub trait ErrorCodes {
    fn error_codes(&self, f: &mut dyn FnMut(i16));
}

/// `walk!(self, f; top-level fields; [list => nested walk] ...)` in a compact form.
macro_rules! codes {
    ($t:ty, |$s:ident, $f:ident| $body:block) => {
        impl ErrorCodes for $t {
            fn error_codes(&self, $f: &mut dyn FnMut(i16)) {
                let $s = self;
                $body
            }
        }
    };
}

codes!(m::ProduceResponse, |r, f| {
    r.responses
        .iter()
        .flat_map(|t| &t.partition_responses)
        .for_each(|p| f(p.error_code));
});
codes!(m::FetchResponse, |r, f| {
    f(r.error_code);
    r.responses
        .iter()
        .flat_map(|t| &t.partitions)
        .for_each(|p| f(p.error_code));
});
codes!(m::ListOffsetsResponse, |r, f| {
    r.topics
        .iter()
        .flat_map(|t| &t.partitions)
        .for_each(|p| f(p.error_code));
});
codes!(m::OffsetForLeaderEpochResponse, |r, f| {
    r.topics
        .iter()
        .flat_map(|t| &t.partitions)
        .for_each(|p| f(p.error_code));
});
codes!(m::MetadataResponse, |r, f| {
    f(r.error_code);
    for t in &r.topics {
        f(t.error_code);
        t.partitions.iter().for_each(|p| f(p.error_code));
    }
});
codes!(m::ElectLeadersResponse, |r, f| {
    f(r.error_code);
    r.replica_election_results
        .iter()
        .flat_map(|t| &t.partition_result)
        .for_each(|p| f(p.error_code));
});
codes!(m::ApiVersionsResponse, |r, f| { f(r.error_code) });
codes!(m::CreateTopicsResponse, |r, f| {
    r.topics.iter().for_each(|t| f(t.error_code))
});
codes!(m::DeleteTopicsResponse, |r, f| {
    r.responses.iter().for_each(|t| f(t.error_code))
});
codes!(m::DeleteRecordsResponse, |r, f| {
    r.topics
        .iter()
        .flat_map(|t| &t.partitions)
        .for_each(|p| f(p.error_code));
});
codes!(m::InitProducerIdResponse, |r, f| { f(r.error_code) });
codes!(m::DescribeConfigsResponse, |r, f| {
    r.results.iter().for_each(|x| f(x.error_code))
});
codes!(m::AlterConfigsResponse, |r, f| {
    r.responses.iter().for_each(|x| f(x.error_code))
});
codes!(m::IncrementalAlterConfigsResponse, |r, f| {
    r.responses.iter().for_each(|x| f(x.error_code))
});
codes!(m::CreatePartitionsResponse, |r, f| {
    r.results.iter().for_each(|x| f(x.error_code))
});
codes!(m::AlterPartitionReassignmentsResponse, |r, f| {
    f(r.error_code);
    r.responses
        .iter()
        .flat_map(|t| &t.partitions)
        .for_each(|p| f(p.error_code));
});
codes!(m::ListPartitionReassignmentsResponse, |r, f| {
    f(r.error_code)
});
codes!(m::DescribeClusterResponse, |r, f| { f(r.error_code) });
codes!(m::AddRaftVoterResponse, |r, f| { f(r.error_code) });
codes!(m::RemoveRaftVoterResponse, |r, f| { f(r.error_code) });
codes!(m::DescribeQuorumResponse, |r, f| {
    f(r.error_code);
    r.topics
        .iter()
        .flat_map(|t| &t.partitions)
        .for_each(|p| f(p.error_code));
});
codes!(m::FindCoordinatorResponse, |r, f| {
    f(r.error_code);
    r.coordinators.iter().for_each(|c| f(c.error_code));
});
codes!(m::JoinGroupResponse, |r, f| { f(r.error_code) });
codes!(m::SyncGroupResponse, |r, f| { f(r.error_code) });
codes!(m::HeartbeatResponse, |r, f| { f(r.error_code) });
codes!(m::LeaveGroupResponse, |r, f| {
    f(r.error_code);
    r.members.iter().for_each(|x| f(x.error_code));
});
codes!(m::OffsetCommitResponse, |r, f| {
    r.topics
        .iter()
        .flat_map(|t| &t.partitions)
        .for_each(|p| f(p.error_code));
});
codes!(m::OffsetFetchResponse, |r, f| {
    f(r.error_code);
    r.topics
        .iter()
        .flat_map(|t| &t.partitions)
        .for_each(|p| f(p.error_code));
    for g in &r.groups {
        f(g.error_code);
        g.topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| f(p.error_code));
    }
});
codes!(m::ListGroupsResponse, |r, f| { f(r.error_code) });
codes!(m::ConsumerGroupHeartbeatResponse, |r, f| {
    f(r.error_code)
});
codes!(m::ConsumerGroupDescribeResponse, |r, f| {
    r.groups.iter().for_each(|g| f(g.error_code))
});
codes!(m::DescribeGroupsResponse, |r, f| {
    r.groups.iter().for_each(|g| f(g.error_code))
});
codes!(m::DeleteGroupsResponse, |r, f| {
    r.results.iter().for_each(|g| f(g.error_code))
});
codes!(m::OffsetDeleteResponse, |r, f| {
    f(r.error_code);
    r.topics
        .iter()
        .flat_map(|t| &t.partitions)
        .for_each(|p| f(p.error_code));
});

/// Kafka's name for an error code, e.g. `UNKNOWN_TOPIC_OR_PARTITION`.
pub fn error_name(code: i16) -> String {
    match kafka_protocol::error::ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(kafka_protocol::error::ResponseError::Unknown(c)) => format!("UNKNOWN_{c}"),
        Some(e) => {
            let camel = format!("{e:?}");
            let mut out = String::with_capacity(camel.len() + 8);
            for (i, ch) in camel.chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(ch.to_ascii_uppercase());
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(2), "CORRUPT_MESSAGE");
    }

    #[test]
    fn nested_codes_are_all_visited() {
        use m::produce_response::{PartitionProduceResponse, TopicProduceResponse};
        let r = m::ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
            .with_partition_responses(vec![
                PartitionProduceResponse::default().with_error_code(3),
                PartitionProduceResponse::default(),
            ])]);
        let mut seen = Vec::new();
        r.error_codes(&mut |c| seen.push(c));
        assert_eq!(seen, vec![3, 0]);
    }
}
codes!(m::SaslHandshakeResponse, |r, f| {
    f(r.error_code);
});
codes!(m::SaslAuthenticateResponse, |r, f| {
    f(r.error_code);
});
codes!(m::CreateAclsResponse, |r, f| {
    r.results.iter().for_each(|x| f(x.error_code));
});
codes!(m::DescribeAclsResponse, |r, f| {
    f(r.error_code);
});
codes!(m::DeleteAclsResponse, |r, f| {
    r.filter_results.iter().for_each(|x| f(x.error_code));
});
codes!(m::AlterUserScramCredentialsResponse, |r, f| {
    r.results.iter().for_each(|x| f(x.error_code));
});
codes!(m::DescribeUserScramCredentialsResponse, |r, f| {
    f(r.error_code);
    r.results.iter().for_each(|x| f(x.error_code));
});
