//! Named places where a test can make a debug build fail, die or wait, to prove that a crash
//! between two commits leaves nothing half visible.
//!
//! `TAGFUSION_FAILPOINTS` lists them, comma-separated: `name` fails there with an error,
//! `name=abort` kills the process on the spot (no unwinding, no cleanup: a crash), and
//! `name=sleep:50ms` waits there. Release builds compile every [`hit`] to nothing.

use crate::error::{Error, Result};

/// The variable that arms failpoints.
pub const VARIABLE: &str = "TAGFUSION_FAILPOINTS";

/// What an armed failpoint does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Fail,
    Abort,
    Sleep(std::time::Duration),
}

/// The action armed for `name` in `spec` (the variable's value).
pub fn action(spec: &str, name: &str) -> Option<Action> {
    spec.split(',').map(str::trim).find_map(|entry| {
        let (point, what) = entry.split_once('=').unwrap_or((entry, ""));
        if point != name {
            return None;
        }
        match what {
            "" => Some(Action::Fail),
            "abort" => Some(Action::Abort),
            other => {
                let ms = other.strip_prefix("sleep:")?.strip_suffix("ms")?;
                Some(Action::Sleep(std::time::Duration::from_millis(
                    ms.parse().ok()?,
                )))
            }
        }
    })
}

/// Passes the failpoint `name`: fails, aborts or sleeps if a debug build armed it.
pub async fn hit(name: &str) -> Result<()> {
    if !cfg!(debug_assertions) {
        return Ok(());
    }
    let Ok(spec) = std::env::var(VARIABLE) else {
        return Ok(());
    };
    match action(&spec, name) {
        None => Ok(()),
        Some(Action::Fail) => Err(Error::invalid(format!("failpoint {name}"))),
        Some(Action::Abort) => std::process::abort(),
        Some(Action::Sleep(d)) => {
            // Tests wait for this line to know the process got here.
            eprintln!("failpoint {name}: sleeping {} ms", d.as_millis());
            tokio::time::sleep(d).await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_points_and_actions() {
        let spec = "a.b, c=abort,d=sleep:50ms,e=sleep:soon";
        assert_eq!(action(spec, "a.b"), Some(Action::Fail));
        assert_eq!(action(spec, "c"), Some(Action::Abort));
        assert_eq!(
            action(spec, "d"),
            Some(Action::Sleep(std::time::Duration::from_millis(50)))
        );
        assert_eq!(action(spec, "e"), None);
        assert_eq!(action(spec, "a"), None);
        assert_eq!(action("", "a"), None);
    }
}
