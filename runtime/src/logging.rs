//! runc-style logging. containerd reads `--log <bundle>/log.json
//! --log-format json` and shows the `msg` of the last `"level":"error"` line,
//! so every line is one JSON object with `level`, `msg` and an RFC 3339 `time`.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{filter, Registry};

use crate::cli::LogFormat;

struct RuncLayer {
    out: Mutex<Box<dyn Write + Send>>,
    format: LogFormat,
}

#[derive(Default)]
struct Fields {
    msg: String,
    extra: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.msg, "{value:?}");
        } else {
            self.extra
                .push((field.name().to_string(), format!("{value:?}")));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg.push_str(value);
        } else {
            self.extra
                .push((field.name().to_string(), value.to_string()));
        }
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// Renders one log line; kept separate so the format is unit-testable.
pub fn render(format: LogFormat, level: &str, msg: &str, extra: &[(String, String)]) -> String {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    match format {
        LogFormat::Json => {
            let mut obj = serde_json::Map::new();
            obj.insert("level".into(), level.into());
            obj.insert("msg".into(), msg.into());
            obj.insert("time".into(), time.into());
            for (k, v) in extra {
                obj.entry(k.clone()).or_insert_with(|| v.clone().into());
            }
            serde_json::Value::Object(obj).to_string()
        }
        LogFormat::Text => {
            let mut line = format!("time=\"{time}\" level={level} msg={msg:?}");
            for (k, v) in extra {
                let _ = write!(line, " {k}={v:?}");
            }
            line
        }
    }
}

impl<S: Subscriber> Layer<S> for RuncLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let line = render(
            self.format,
            level_name(event.metadata().level()),
            &fields.msg,
            &fields.extra,
        );
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

/// Installs the global logger. Without `--debug` only our own warnings and
/// errors are written: libcontainer logs every failure before returning it,
/// and printing those too would break the one-line error rule and
/// containerd's parsing of `ps --format json` (stdout and stderr together).
pub fn init(log: Option<&Path>, format: LogFormat, debug: bool) -> std::io::Result<()> {
    let out: Box<dyn Write + Send> = match log {
        Some(path) if path != Path::new("/dev/stderr") => {
            Box::new(OpenOptions::new().create(true).append(true).open(path)?)
        }
        _ => Box::new(std::io::stderr()),
    };
    let targets = if debug {
        filter::Targets::new().with_default(Level::DEBUG)
    } else {
        filter::Targets::new()
            .with_target("rootlessrt", Level::WARN)
            .with_default(tracing_subscriber::filter::LevelFilter::OFF)
    };
    let layer = RuncLayer {
        out: Mutex::new(out),
        format,
    }
    .with_filter(targets);
    let _ = Registry::default().with(layer).try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_is_what_containerd_parses() {
        let line = render(
            LogFormat::Json,
            "error",
            "container \"x\" does not exist",
            &[],
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container \"x\" does not exist");
        let t = v["time"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(t).is_ok(), "{t}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn text_line_quotes_the_message() {
        let line = render(LogFormat::Text, "error", "a \"b\"\nc", &[]);
        assert!(
            line.contains("level=error msg=\"a \\\"b\\\"\\nc\""),
            "{line}"
        );
    }
}
