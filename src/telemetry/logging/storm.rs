//! The thin `tracing` layer over [`RateLimiter`]: events are keyed by
//! callsite plus the values of a few identity fields (`chip`, ...), and a
//! suppressed window ends with one "suppressed K similar messages" line.
//!
//! It must be the outermost layer, over layers without per-layer filters: its `event_enabled` drops suppressed
//! events before any writer sees them, and it hands its summary lines to
//! the layers beneath it directly (a `tracing` macro called from inside a
//! layer goes nowhere). There is no timer: a summary is written at the next
//! event of the same key, or at the first event of any key after the window
//! has ended (windows are swept at most once a second, or once a window
//! if that is shorter).

use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::field::{Field, Value, Visit, display};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_core::callsite::{DefaultCallsite, Identifier};
use tracing_core::field::FieldSet;
use tracing_core::metadata::Kind;
use tracing_subscriber::layer::{Context, Layer};

use super::ratelimit::{Decision, RateLimiter};

/// Events let through per key and window.
pub const DEFAULT_BURST: u32 = 5;
/// The window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);
/// Fields whose values tell one storm from another (one flapping chip must
/// not silence the others).
pub const KEY_FIELDS: &[&str] = &["chip", "card", "resource", "pod"];

const SWEEP_EVERY: Duration = Duration::from_secs(1);

static SUMMARY_CALLSITE: DefaultCallsite = DefaultCallsite::new(&SUMMARY_META);
static SUMMARY_META: Metadata<'static> = Metadata::new(
    "log storm summary",
    module_path!(),
    Level::WARN,
    Some(file!()),
    Some(line!()),
    Some(module_path!()),
    FieldSet::new(
        &["message", "suppressed", "source", "key"],
        tracing_core::identify_callsite!(&SUMMARY_CALLSITE),
    ),
    Kind::EVENT,
);

/// One storm: a callsite and the values of its key fields.
#[derive(Clone)]
struct EventKey {
    callsite: Identifier,
    source: &'static Metadata<'static>,
    fields: String,
}

impl EventKey {
    fn of(event: &Event<'_>, wanted: &[&str]) -> Self {
        let mut visitor = KeyFields {
            wanted,
            text: String::new(),
        };
        event.record(&mut visitor);
        Self {
            callsite: event.metadata().callsite(),
            source: event.metadata(),
            fields: visitor.text,
        }
    }

    fn source(&self) -> String {
        match (self.source.file(), self.source.line()) {
            (Some(file), Some(line)) => format!("{file}:{line}"),
            _ => self.source.name().to_owned(),
        }
    }
}

impl PartialEq for EventKey {
    fn eq(&self, other: &Self) -> bool {
        self.callsite == other.callsite && self.fields == other.fields
    }
}

impl Eq for EventKey {}

impl Hash for EventKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.callsite.hash(state);
        self.fields.hash(state);
    }
}

impl fmt::Debug for EventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.source(), self.fields)
    }
}

struct KeyFields<'a> {
    wanted: &'a [&'a str],
    text: String,
}

impl Visit for KeyFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &display(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.wanted.contains(&field.name()) {
            let sep = if self.text.is_empty() { "" } else { " " };
            // Writing into a String cannot fail.
            let _ = write!(self.text, "{sep}{}={value:?}", field.name());
        }
    }
}

#[derive(Debug)]
struct State {
    limiter: RateLimiter<EventKey>,
    last_sweep: Option<Instant>,
}

/// The storm limiter as a layer; add it last (outermost).
#[derive(Debug)]
pub struct StormLayer {
    state: Mutex<State>,
    key_fields: &'static [&'static str],
}

impl StormLayer {
    /// At most `burst` events per callsite and key per `window`.
    pub fn new(burst: u32, window: Duration) -> Self {
        Self {
            state: Mutex::new(State {
                limiter: RateLimiter::new(burst, window),
                last_sweep: None,
            }),
            key_fields: KEY_FIELDS,
        }
    }

    /// Replaces [`KEY_FIELDS`].
    pub fn with_key_fields(mut self, fields: &'static [&'static str]) -> Self {
        self.key_fields = fields;
        self
    }

    fn decide(&self, key: &EventKey, now: Instant) -> (Decision, Vec<(EventKey, u64)>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let every = SWEEP_EVERY.min(state.limiter.window());
        let sweep_due = state
            .last_sweep
            .is_none_or(|last| now.saturating_duration_since(last) >= every);
        let ended = if sweep_due {
            state.last_sweep = Some(now);
            state.limiter.expire(now)
        } else {
            Vec::new()
        };
        (state.limiter.allow(key.clone(), now), ended)
    }
}

impl Default for StormLayer {
    /// [`DEFAULT_BURST`] per [`DEFAULT_WINDOW`].
    fn default() -> Self {
        Self::new(DEFAULT_BURST, DEFAULT_WINDOW)
    }
}

impl<S: Subscriber> Layer<S> for StormLayer {
    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        if event.metadata().callsite() == SUMMARY_META.callsite() {
            return true;
        }
        let key = EventKey::of(event, self.key_fields);
        let (decision, ended) = self.decide(&key, Instant::now());
        for (ended_key, count) in &ended {
            summarize(&ctx, ended_key, *count);
        }
        match decision {
            Decision::Allow => true,
            Decision::AllowAfterSuppressed(count) => {
                summarize(&ctx, &key, count);
                true
            }
            Decision::Suppress => false,
        }
    }
}

/// Hands one summary line to the layers beneath (always at WARN: it is only
/// made for events that had already passed the level filter).
fn summarize<S: Subscriber>(ctx: &Context<'_, S>, key: &EventKey, count: u64) {
    let fields = SUMMARY_META.fields();
    let (Some(message), Some(suppressed), Some(source), Some(key_field)) = (
        fields.field("message"),
        fields.field("suppressed"),
        fields.field("source"),
        fields.field("key"),
    ) else {
        return;
    };
    let text = format!("suppressed {count} similar messages");
    let origin = key.source();
    let message_value = display(&text);
    let key_value = key.fields.as_str();
    let values: [(&Field, Option<&dyn Value>); 4] = [
        (&message, Some(&message_value)),
        (&suppressed, Some(&count)),
        (&source, Some(&origin)),
        (
            &key_field,
            (!key_value.is_empty()).then_some(&key_value as &dyn Value),
        ),
    ];
    let value_set = fields.value_set(&values);
    ctx.event(&Event::new(&SUMMARY_META, &value_set));
}
