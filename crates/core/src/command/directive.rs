//! Issuing a directive: validation, the notice period (zero is an emergency that must be
//! justified), and the notice to the customers it concerns.

use crate::command::{Command, CommandError, check_text, forbidden, need_model, not_backdated};
use crate::event::{Actor, DirectiveScope, Event};
use crate::ids::{CustomerId, Timestamp};
use crate::notice::NoticeRegarding;
use crate::policy::{CompiledPolicies, PolicyKind};
use crate::procedure::after_days;
use crate::state::State;

/// Most customers named in one notice; past it the notice is public only and says how many
/// more it concerns (a log entry must fit 64 KiB).
pub const MAX_NOTICE_RECIPIENTS: usize = 1000;

/// Appeals against a directive may be filed this many days after it is issued.
pub const DIRECTIVE_APPEAL_WINDOW_DAYS: u32 = 30;

pub(super) fn issue(
    state: &State,
    actor: &Actor,
    command: Command,
    now: Timestamp,
) -> Result<Vec<Event>, CommandError> {
    let Command::IssueDirective {
        directive,
        legal_basis,
        description,
        scope,
        policies,
        effective_at,
        expires_at,
        emergency_justification,
        evidence,
    } = command
    else {
        return Err(CommandError::Invalid("not a directive".to_owned()));
    };
    let Actor::Authority { authority, .. } = actor else {
        return Err(forbidden(actor, "issue directives"));
    };
    if state.directive(directive.as_str()).is_some() {
        return Err(CommandError::AlreadyExists { what: "directive", id: directive.to_string() });
    }
    check_text("legal_basis", &legal_basis)?;
    check_text("description", &description)?;
    if let DirectiveScope::Models { models } = &scope {
        if models.is_empty() {
            return Err(CommandError::Invalid("scope names no models".to_owned()));
        }
        for model in models {
            need_model(state, model)?;
        }
    }
    let effective_at = not_backdated("effective_at", effective_at, now)?;
    if expires_at.is_some_and(|end| end <= effective_at) {
        return Err(CommandError::Invalid("expires_at must be after effective_at".to_owned()));
    }
    let emergency = effective_at <= now;
    match (&emergency_justification, emergency) {
        (None, true) => {
            return Err(CommandError::Invalid(
                "a directive with no notice period is an emergency and needs an emergency_justification".to_owned(),
            ));
        }
        (Some(text), _) => check_text("emergency_justification", text)?,
        (None, false) => {}
    }
    if evidence.is_empty() {
        return Err(CommandError::Invalid(
            "a directive needs at least one evidence item (withheld items state why)".to_owned(),
        ));
    }
    for item in &evidence {
        item.check().map_err(CommandError::Invalid)?;
    }
    let compiled = CompiledPolicies::compile(state.schema(), PolicyKind::Directive, &policies)?;
    let effective_at = effective_at.max(now);
    let notice = notice_for(state, &directive, &scope, &description, &legal_basis, effective_at, now);
    Ok(vec![
        Event::DirectiveIssued {
            directive,
            issuer: authority.clone(),
            legal_basis,
            description,
            scope,
            content_hash: compiled.content_hash().to_owned(),
            policies,
            issued_at: now,
            effective_at,
            expires_at,
            emergency_justification,
            evidence,
        },
        notice,
    ])
}

/// The notice of a directive: public, and addressed to every customer holding a live grant for a
/// model in its scope (the customers whose preview access it may cut).
fn notice_for(
    state: &State,
    directive: &crate::ids::DirectiveId,
    scope: &DirectiveScope,
    description: &str,
    legal_basis: &str,
    effective_at: Timestamp,
    now: Timestamp,
) -> Event {
    let in_scope = |model: &crate::ids::ModelName| match scope {
        DirectiveScope::AllModels => true,
        DirectiveScope::Models { models } => models.contains(model),
    };
    // The first MAX_NOTICE_RECIPIENTS holders by id, and a count of the rest. A bounded max-heap
    // keeps the writer's cost at one pass over the customers: collecting and sorting every
    // holder's id took 0.8 s at a million customers (BENCHMARKS.md §2), on the thread every
    // governance write waits for.
    let mut first: std::collections::BinaryHeap<&CustomerId> =
        std::collections::BinaryHeap::with_capacity(MAX_NOTICE_RECIPIENTS + 1);
    let mut holders = 0_usize;
    for customer in state.customers() {
        let holds = customer.grants.iter().any(|(model, grant)| {
            in_scope(model) && grant.revoked_at.is_none_or(|at| at > now) && grant.expires_at.is_none_or(|at| at > now)
        });
        if !holds {
            continue;
        }
        holders += 1;
        if first.len() < MAX_NOTICE_RECIPIENTS {
            first.push(&customer.id);
        } else if first.peek().is_some_and(|largest| customer.id < **largest) {
            first.pop();
            first.push(&customer.id);
        }
    }
    let recipients: Vec<CustomerId> = first.into_sorted_vec().into_iter().cloned().collect();
    let more = holders.saturating_sub(recipients.len());
    let mut text = format!("directive `{directive}` ({legal_basis}) takes effect at {effective_at}: {description}");
    if more > 0 {
        text.push_str(&format!(" (also concerns {more} more grant holders not listed here)"));
    }
    Event::NoticeSent {
        recipients,
        public: true,
        regarding: NoticeRegarding::Directive { directive: directive.clone() },
        text,
        effective_at,
        appeal_by: Some(after_days(now, DIRECTIVE_APPEAL_WINDOW_DAYS)),
    }
}
