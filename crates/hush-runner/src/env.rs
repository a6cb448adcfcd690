//! The child's environment: the original one, plus the exported secrets, plus where the file is.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use crate::{HUSH_SECRETS_FILE, OnChange, STREAMLIT_SECRETS_FILES, STREAMLIT_SERVER_RUN_ON_SAVE};

/// Linux refuses to start a program when one `KEY=value` string is longer than this
/// (`MAX_ARG_STRLEN`, 32 pages, counting the NUL).
const MAX_ENV_STRING: usize = 32 * 4096;

/// False when `key=value` is too long to be passed to a new program.
pub(crate) fn fits_exec(key: &str, value: &str) -> bool {
    // `key=value` plus its terminating NUL.
    key.len() + 1 + value.len() < MAX_ENV_STRING
}

/// Built from scratch for every start, so a restarted child never inherits a variable from the
/// previous version's secrets (compat §2.5): a removed key is gone and a variable the secrets
/// had overwritten has its value from `base` again.
pub(crate) fn child_env(
    base: &[(OsString, OsString)],
    exported: &[(String, String)],
    file: &Path,
    on_change: OnChange,
) -> BTreeMap<OsString, OsString> {
    let mut env: BTreeMap<OsString, OsString> = base.iter().cloned().collect();
    // Rule 10: a secret overwrites an existing variable of the same name.
    for (key, value) in exported {
        env.insert(key.into(), value.into());
    }
    // Streamlit reads only the server's copy, so it wins over a .streamlit/secrets.toml
    // lying in the app's folder (Streamlit issue 2796).
    env.insert(STREAMLIT_SECRETS_FILES.into(), file.into());
    env.insert(HUSH_SECRETS_FILE.into(), file.into());
    if on_change == OnChange::StreamlitRerun {
        env.insert(STREAMLIT_SERVER_RUN_ON_SAVE.into(), "true".into());
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn a_value_too_long_for_exec_does_not_fit() {
        assert!(fits_exec("K", &"v".repeat(MAX_ENV_STRING - 3)));
        assert!(!fits_exec("K", &"v".repeat(MAX_ENV_STRING - 2)));
    }

    #[test]
    fn secrets_overwrite_and_a_restart_starts_from_the_base_again() {
        let base = os(&[("PATH", "/bin"), ("DB", "original")]);
        let file = Path::new("/tmp/hush-x/secrets.toml");
        let first = child_env(
            &base,
            &[("DB".into(), "secret".into()), ("K".into(), "v".into())],
            file,
            OnChange::Restart,
        );
        assert_eq!(first[&OsString::from("DB")], "secret");
        assert_eq!(first[&OsString::from("K")], "v");
        assert_eq!(first[&OsString::from("PATH")], "/bin");
        assert_eq!(first[&OsString::from(HUSH_SECRETS_FILE)], file.as_os_str());
        assert_eq!(
            first[&OsString::from(STREAMLIT_SECRETS_FILES)],
            file.as_os_str()
        );
        assert!(!first.contains_key(&OsString::from(STREAMLIT_SERVER_RUN_ON_SAVE)));

        let second = child_env(&base, &[], file, OnChange::StreamlitRerun);
        assert_eq!(second[&OsString::from("DB")], "original");
        assert!(!second.contains_key(&OsString::from("K")));
        assert_eq!(
            second[&OsString::from(STREAMLIT_SERVER_RUN_ON_SAVE)],
            "true"
        );
    }
}
