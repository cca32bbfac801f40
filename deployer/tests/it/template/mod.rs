//! The app's template, checked structurally on the typed model, against
//! the storage adapter's layout, and byte for byte against a snapshot:
//! a file per part of the stack (`api`, `functions`, `roles`,
//! `triggers`, `tables`), the template as a whole (`model`) and its
//! synthesis from the settings (`synth`).

mod api;
mod functions;
mod model;
mod roles;
mod synth;
mod tables;
mod triggers;

use deployer::cfn::{Expr, Intrinsic, LogicalId, Properties, RefTarget, Template, Value};
use deployer::{StackOptions, app_stack};
use service::settings::RawSettings;

/// The app's template with the default settings.
pub(crate) fn default_stack() -> Template {
    app_stack(&StackOptions::default())
}

/// The app's template with tracing on.
pub(crate) fn traced_stack() -> Template {
    app_stack(&StackOptions {
        tracing: true,
        ..StackOptions::default()
    })
}

/// Each resource of `template` whose properties `pick` takes, by id.
pub(super) fn resources_of<'a, T>(
    template: &'a Template,
    pick: impl Fn(&'a Properties) -> Option<&'a T>,
) -> Vec<(&'a LogicalId, &'a T)> {
    template
        .resources
        .iter()
        .filter_map(|(id, resource)| pick(&resource.properties).map(|p| (id, p)))
        .collect()
}

/// `Ref X` → "X", `GetAtt X.A` → "X.A", a literal → itself.
pub(super) fn show(expr: &Expr) -> String {
    match expr {
        Value::Literal(text) => text.clone(),
        Value::Intrinsic(Intrinsic::Ref(RefTarget::Logical(id))) => id.to_string(),
        Value::Intrinsic(Intrinsic::Ref(RefTarget::Pseudo(pseudo))) => pseudo.name().to_owned(),
        Value::Intrinsic(Intrinsic::GetAtt(id, attribute)) => {
            format!("{id}.{}", attribute.name())
        }
        Value::Intrinsic(Intrinsic::Sub(template, _)) => format!("Sub {template}"),
        Value::Intrinsic(Intrinsic::Join(separator, parts)) => {
            let parts: Vec<String> = parts.iter().map(show).collect();
            format!("Join {separator} {parts:?}")
        }
    }
}

/// Settings of these `pairs` alone.
pub(super) fn settings(pairs: &[(&str, &str)]) -> RawSettings {
    RawSettings::from_pairs(pairs)
}
