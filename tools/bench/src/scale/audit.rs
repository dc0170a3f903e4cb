//! The API server's audit log (JSON lines, level Metadata), read back as one
//! record per request and attributed to a node by the credential that made
//! it (each simulated node holds its own token, so the token's credential
//! ID names the node). Pure: parsing and counting are tested on text.

use std::collections::{BTreeMap, HashMap};

/// The audit event's user extra naming the token used.
const CREDENTIAL_ID: &str = "authentication.kubernetes.io/credential-id";

/// One request, merged from its stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `user.username`.
    pub user: String,
    /// The token's credential ID, when the API server gave one.
    pub credential: Option<String>,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, ...
    pub verb: String,
    /// `configmaps`, `nodes`, `pods`, `events`, with `/subresource` if any.
    pub resource: String,
    /// `requestReceivedTimestamp`, microseconds since the Unix epoch.
    pub received_us: i64,
    /// The response reached `ResponseComplete` (a watch: it ended).
    pub completed: bool,
    /// From receipt to `ResponseComplete`, microseconds, as the API server
    /// timed it.
    pub served_us: Option<i64>,
}

impl Request {
    /// A write: it changes stored state.
    pub fn is_write(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "create" | "update" | "patch" | "delete" | "deletecollection"
        )
    }

    /// `verb resource`, the key the report groups by.
    pub fn kind(&self) -> String {
        format!("{} {}", self.verb, self.resource)
    }
}

/// The requests in `log`, one per audit ID, in order of first appearance.
/// Lines that are not audit events are skipped.
pub fn parse(log: &str) -> Vec<Request> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Request> = Vec::new();
    for line in log.lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(id) = event["auditID"].as_str() else {
            continue;
        };
        let completed = event["stage"] == "ResponseComplete";
        let finished_us = event["stageTimestamp"].as_str().and_then(epoch_micros);
        if let Some(&at) = index.get(id) {
            let request = &mut out[at];
            request.completed |= completed;
            if completed {
                request.served_us = finished_us.map(|f| f - request.received_us);
            }
            continue;
        }
        let Some(received_us) = event["requestReceivedTimestamp"]
            .as_str()
            .and_then(epoch_micros)
        else {
            continue;
        };
        let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
        let object = &event["objectRef"];
        let mut resource = text(&object["resource"]);
        if let Some(sub) = object["subresource"].as_str() {
            resource = format!("{resource}/{sub}");
        }
        let credential = event["user"]["extra"][CREDENTIAL_ID]
            .as_array()
            .filter(|ids| ids.len() == 1)
            .and_then(|ids| ids[0].as_str())
            .map(str::to_owned);
        index.insert(id.to_owned(), out.len());
        out.push(Request {
            user: text(&event["user"]["username"]),
            credential,
            verb: text(&event["verb"]),
            resource,
            received_us,
            completed,
            served_us: finished_us.filter(|_| completed).map(|f| f - received_us),
        });
    }
    out
}

/// `2026-12-05T13:45:01.123456Z` (RFC 3339 in UTC, as the API server writes
/// it; fraction optional) as microseconds since the Unix epoch.
pub fn epoch_micros(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut ymd = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (ymd.next()?.ok()?, ymd.next()?.ok()?, ymd.next()?.ok()?);
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut hms = clock.splitn(3, ':').map(str::parse::<i64>);
    let (hour, minute, second) = (hms.next()?.ok()?, hms.next()?.ok()?, hms.next()?.ok()?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let micros: i64 = format!("{fraction:0<6}")[..6].parse().ok()?;
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000 + micros)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What a set of nodes sent in one time window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    /// Requests per node, in the order of the credentials asked for.
    pub per_node: Vec<usize>,
    /// Writes per node.
    pub writes_per_node: Vec<usize>,
    /// Requests by `verb resource`, summed over the nodes.
    pub by_kind: BTreeMap<String, usize>,
    /// Requests per whole second of the window, summed over the nodes.
    pub per_second: BTreeMap<i64, usize>,
}

impl Window {
    /// Every request of the nodes in `credentials` received in
    /// `[from_us, to_us)`.
    pub fn of(requests: &[Request], credentials: &[String], from_us: i64, to_us: i64) -> Window {
        let position: HashMap<&str, usize> = credentials
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let mut window = Window {
            per_node: vec![0; credentials.len()],
            writes_per_node: vec![0; credentials.len()],
            ..Window::default()
        };
        for request in requests {
            if request.received_us < from_us || request.received_us >= to_us {
                continue;
            }
            let Some(&node) = request.credential.as_deref().and_then(|c| position.get(c)) else {
                continue;
            };
            window.per_node[node] += 1;
            if request.is_write() {
                window.writes_per_node[node] += 1;
            }
            *window.by_kind.entry(request.kind()).or_default() += 1;
            *window
                .per_second
                .entry(request.received_us.div_euclid(1_000_000))
                .or_default() += 1;
        }
        window
    }

    /// All requests of the window.
    pub fn total(&self) -> usize {
        self.per_node.iter().sum()
    }

    /// The busiest second: (requests in it, seconds with any request).
    pub fn peak_per_second(&self) -> (usize, usize) {
        let peak = self.per_second.values().copied().max().unwrap_or(0);
        (peak, self.per_second.len())
    }
}

/// How long the API server took over the requests of `kind` (`verb
/// resource`) by the nodes in `credentials` received in `[from_us, to_us)`.
pub fn served(
    requests: &[Request],
    credentials: &[String],
    kind: &str,
    from_us: i64,
    to_us: i64,
) -> Vec<std::time::Duration> {
    requests
        .iter()
        .filter(|r| (from_us..to_us).contains(&r.received_us) && r.kind() == kind)
        .filter(|r| {
            r.credential
                .as_ref()
                .is_some_and(|c| credentials.contains(c))
        })
        .filter_map(|r| r.served_us)
        .filter_map(|us| u64::try_from(us).ok())
        .map(std::time::Duration::from_micros)
        .collect()
}

/// Watches still open (started, not completed) per node, in the order of
/// `credentials`.
pub fn open_watches(requests: &[Request], credentials: &[String]) -> Vec<usize> {
    credentials
        .iter()
        .map(|credential| {
            requests
                .iter()
                .filter(|r| r.verb == "watch" && !r.completed)
                .filter(|r| r.credential.as_deref() == Some(credential.as_str()))
                .count()
        })
        .collect()
}

/// Requests by `user` made with no credential in `credentials` (someone
/// else's token, or none the log could attribute).
pub fn unattributed(requests: &[Request], user: &str, credentials: &[String]) -> usize {
    requests
        .iter()
        .filter(|r| r.user == user)
        .filter(|r| {
            r.credential
                .as_ref()
                .is_none_or(|c| !credentials.contains(c))
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, stage: &str, cred: &str, verb: &str, resource: &str, at: &str) -> String {
        serde_json::json!({
            "auditID": id, "stage": stage, "verb": verb,
            "requestReceivedTimestamp": at, "stageTimestamp": at,
            "user": {"username": "sa", "extra": {CREDENTIAL_ID: [cred]}},
            "objectRef": {"resource": resource},
        })
        .to_string()
    }

    #[test]
    fn timestamps_read_as_the_api_server_writes_them() {
        assert_eq!(epoch_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(epoch_micros("1970-01-02T00:00:01.5Z"), Some(86_401_500_000));
        // date -u -d 2026-12-05T13:45:01Z +%s = 1796478301
        assert_eq!(
            epoch_micros("2026-12-05T13:45:01.000123Z"),
            Some(1_796_478_301_000_123)
        );
        assert_eq!(
            epoch_micros("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000_000)
        );
        for bad in [
            "2026-12-05T13:45:01",
            "2026-13-05T13:45:01Z",
            "x",
            "2026-12-05T13:45:01.a1Z",
        ] {
            assert_eq!(epoch_micros(bad), None, "{bad}");
        }
    }

    #[test]
    fn stages_merge_into_one_request_and_a_completed_watch_is_closed() {
        let log = [
            line(
                "a",
                "ResponseStarted",
                "n0",
                "watch",
                "pods",
                "2026-12-05T10:00:00.1Z",
            ),
            line(
                "a",
                "ResponseComplete",
                "n0",
                "watch",
                "pods",
                "2026-12-05T10:00:00.1Z",
            ),
            line(
                "b",
                "ResponseStarted",
                "n0",
                "watch",
                "nodes",
                "2026-12-05T10:00:00.2Z",
            ),
            line(
                "c",
                "ResponseComplete",
                "n1",
                "watch",
                "nodes",
                "2026-12-05T10:00:00.3Z",
            ),
            "not json".to_owned(),
        ]
        .join("\n");
        let requests = parse(&log);
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0].served_us, Some(0), "timed at ResponseComplete");
        assert_eq!(requests[1].served_us, None, "still open");
        let nodes = ["n0".to_owned(), "n1".to_owned()];
        assert_eq!(open_watches(&requests, &nodes), [1, 0]);
    }

    #[test]
    fn a_window_counts_each_node_by_its_credential_and_finds_the_busiest_second() {
        let log = [
            line(
                "1",
                "ResponseComplete",
                "n0",
                "list",
                "pods",
                "2026-12-05T10:00:00.1Z",
            ),
            line(
                "2",
                "ResponseComplete",
                "n0",
                "create",
                "configmaps",
                "2026-12-05T10:00:00.9Z",
            ),
            line(
                "3",
                "ResponseComplete",
                "n1",
                "patch",
                "nodes",
                "2026-12-05T10:00:01.0Z",
            ),
            line(
                "4",
                "ResponseComplete",
                "other",
                "list",
                "pods",
                "2026-12-05T10:00:01.0Z",
            ),
            line(
                "5",
                "ResponseComplete",
                "n1",
                "list",
                "pods",
                "2026-12-05T10:00:09.0Z",
            ),
        ]
        .join("\n");
        let requests = parse(&log);
        let nodes = ["n0".to_owned(), "n1".to_owned()];
        let from = epoch_micros("2026-12-05T10:00:00Z").unwrap_or_default();
        let window = Window::of(&requests, &nodes, from, from + 5_000_000);
        assert_eq!(
            window.per_node,
            [2, 1],
            "request 4 is another token's, 5 is after the window"
        );
        assert_eq!(window.writes_per_node, [1, 1]);
        assert_eq!(window.by_kind["create configmaps"], 1);
        assert_eq!(window.peak_per_second(), (2, 2));
        assert_eq!(unattributed(&requests, "sa", &nodes), 1);
    }
}
