//! Which values of a stage are secret (outputs listed under `secret_outputs:`, outputs named
//! like secrets, values of `NoEcho` parameters), and their masking as soon as they are known.

use std::collections::BTreeMap;

use crate::model::plan::Stage;
use crate::progress::Reporter;

/// Output keys that suggest a secret: masked in the log and never shown in the summary, in
/// addition to the outputs a stage declares under `secret_outputs`.
pub(crate) fn looks_sensitive(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['-', '_', '.'], "");
    [
        "secret",
        "password",
        "passwd",
        "token",
        "credential",
        "privatekey",
        "apikey",
        "accesskey",
        "connectionstring",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// Whether `stage`'s output `name` holds a secret: declared, or named like one.
pub(crate) fn is_secret_output(stage: &Stage, name: &str) -> bool {
    stage.secret_outputs.contains(name) || looks_sensitive(name)
}

/// Masks `stage`'s secret outputs: called as soon as they are read, before anything may print
/// them.
pub(crate) fn mask_secret_outputs(
    reporter: &Reporter,
    stage: &Stage,
    outputs: &BTreeMap<String, String>,
) {
    for (k, v) in outputs {
        if is_secret_output(stage, k) {
            reporter.mask(v);
        }
    }
}

/// Masks the values passed to `stage`'s `NoEcho` parameters, as soon as they are resolved.
pub(crate) fn mask_no_echo_parameters(
    reporter: &Reporter,
    stage: &Stage,
    parameters: &BTreeMap<String, String>,
) {
    for (k, v) in parameters {
        if stage.template.no_echo_parameters.contains(k) {
            reporter.mask(v);
        }
    }
}
