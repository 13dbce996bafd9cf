//! Revoking a grant: after the model's notice period unless a directive requires otherwise, with
//! a notice to the customer.

use crate::command::{CommandError, check_text, need_customer, need_model, not_backdated};
use crate::event::Event;
use crate::ids::{CustomerId, DirectiveId, ModelName, Timestamp};
use crate::notice::NoticeRegarding;
use crate::procedure::after_days;
use crate::state::State;

pub(super) fn revoke(
    state: &State,
    customer: &CustomerId,
    model: &ModelName,
    effective_at: Option<Timestamp>,
    reason: String,
    directive: Option<DirectiveId>,
    now: Timestamp,
) -> Result<Vec<Event>, CommandError> {
    let holder = need_customer(state, customer)?;
    let procedure = &need_model(state, model)?.procedure;
    let grant = holder
        .grants
        .get(model)
        .ok_or_else(|| CommandError::Invalid(format!("customer `{customer}` holds no grant for `{model}`")))?;
    if grant.revoked_at.is_some() {
        return Err(CommandError::Invalid(format!("the grant of `{model}` to `{customer}` is already revoked")));
    }
    check_text("reason", &reason)?;
    let earliest = after_days(now, procedure.revocation_notice_days);
    if let Some(id) = &directive {
        let cited = state
            .directive(id.as_str())
            .ok_or_else(|| CommandError::NotFound { what: "directive", id: id.to_string() })?;
        // `in_force` rather than "not lifted, not expired": a directive issued with a notice period
        // is not yet in force, and citing it must not cut access before the directive itself does.
        if !cited.in_force(now) || !cited.applies_to(model) {
            return Err(CommandError::Invalid(format!(
                "directive `{id}` is not in force for `{model}` and cannot shorten the notice period"
            )));
        }
    }
    let effective_at = match (effective_at, &directive) {
        (None, None) => earliest,
        (at, Some(_)) => not_backdated("effective_at", at, now)?,
        (Some(at), None) => {
            let at = not_backdated("effective_at", Some(at), now)?;
            if at < earliest {
                return Err(CommandError::Invalid(format!(
                    "a revocation of `{model}` takes effect after its {}-day notice period, not before {earliest}; \
                     cite a directive that requires earlier effect",
                    procedure.revocation_notice_days
                )));
            }
            at
        }
    };
    let appeal_by = after_days(now, procedure.appeal_window_days);
    let text = match &directive {
        Some(id) => {
            format!("your grant for `{model}` is revoked from {effective_at}, as directive `{id}` requires: {reason}")
        }
        None => format!("your grant for `{model}` is revoked from {effective_at}: {reason}"),
    };
    Ok(vec![
        Event::GrantRevoked { customer: customer.clone(), model: model.clone(), effective_at, reason, directive },
        Event::NoticeSent {
            recipients: vec![customer.clone()],
            public: false,
            regarding: NoticeRegarding::GrantRevocation { customer: customer.clone(), model: model.clone() },
            text,
            effective_at,
            appeal_by: Some(appeal_by),
        },
    ])
}
