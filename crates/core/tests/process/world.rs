//! The test world: commands handled by the pure core at an injected `now`, events applied in
//! order and logged for replay; outcomes rendered as one-line strings; the story.

use std::sync::Arc;

use portcullis_core::appeal::{AppealOutcome, AppealStatus, AppealSubject};
use portcullis_core::application::{Application, Verdict};
use portcullis_core::evidence::Disclosure;
use portcullis_core::policy::CedarSchema;
use portcullis_core::procedure::{Clearance, DAY_MILLIS, Procedure, Quorum, ReviewVerdict};
use portcullis_core::*;

/// The story starts here (2026-11-27T17:20:00Z); `day` renders times relative to it.
pub(crate) const T0: Timestamp = Timestamp::from_millis(1_795_800_000_000);
/// `frontier` enters preview two days in; applications start here.
pub(crate) const T1: Timestamp = T0.plus_millis(2 * DAY);
/// Revocations, denials and directives happen on day 3.
pub(crate) const NOW: Timestamp = T0.plus_millis(3 * DAY);
pub(crate) const HOUR: i64 = 3_600_000;
pub(crate) const DAY: i64 = DAY_MILLIS;

pub(crate) const CRITERIA: &str = r#"@id("kyc-verified")
permit(principal, action == Action::"invoke", resource)
when { principal has kyc && principal.kyc == "verified" };
@id("us-entity")
permit(principal, action == Action::"invoke", resource)
when { principal has country && principal.country == "US" };"#;

pub(crate) fn at(days: i64) -> Timestamp {
    T0.plus_millis(days * DAY)
}

// ---------------------------------------------------------------------------------------------
// The world: commands handled by the pure core at an injected `now`, events applied in order.
// ---------------------------------------------------------------------------------------------

/// `provider`, `authority/official` (e.g. `bis/j.doe`), or a customer id.
pub(crate) fn actor(who: &str) -> Actor {
    if who == "provider" {
        return Actor::Provider { name: "ops".to_owned() };
    }
    match who.split_once('/') {
        Some((authority, official)) => Actor::Authority {
            authority: AuthorityId::parse(authority).unwrap(),
            official: OfficialName::parse(official).unwrap(),
        },
        None => Actor::Customer { customer: CustomerId::parse(who).unwrap() },
    }
}

#[derive(Clone)]
pub(crate) struct World {
    pub(crate) state: State,
    /// Every record applied, for replay.
    pub(crate) log: Vec<EventRecord>,
}

impl World {
    pub(crate) fn new() -> Self {
        let schema = Arc::new(CedarSchema::default_schema().unwrap());
        Self { state: State::new(schema, Vec::new()), log: Vec::new() }
    }

    /// Handles a command at `now` and applies its events; on error nothing is applied.
    pub(crate) fn try_run(&mut self, who: &str, command: Command, now: Timestamp) -> Result<Vec<Event>, CommandError> {
        let actor = actor(who);
        let events = handle(&self.state, &actor, command, now)?;
        for event in &events {
            let record =
                EventRecord { seq: self.state.last_seq + 1, at: now, actor: actor.clone(), event: event.clone() };
            self.state.apply(&record).unwrap();
            self.log.push(record);
        }
        Ok(events)
    }

    #[track_caller]
    pub(crate) fn run(&mut self, who: &str, command: Command, now: Timestamp) -> Vec<Event> {
        self.try_run(who, command, now).unwrap_or_else(|err| panic!("{who} at {}: {err}", day(now)))
    }

    /// Handles a command that must be refused; checks that the state did not move.
    #[track_caller]
    pub(crate) fn refuse(&mut self, who: &str, command: Command, now: Timestamp) -> String {
        let last_seq = self.state.last_seq;
        let result = self.try_run(who, command, now);
        assert_eq!(self.state.last_seq, last_seq, "a refused command changed the state");
        match result {
            Ok(events) => panic!("expected a refusal, got {}", summary(&events)),
            Err(err) => error(&err),
        }
    }

    pub(crate) fn application(&self, id: &str) -> Arc<Application> {
        self.state.application(id).unwrap().clone()
    }

    /// The access decision for `customer` on `frontier` at `now`, with no end-user attestation.
    pub(crate) fn access(&self, customer: &str, now: Timestamp) -> String {
        access(&Snapshot::new(self.state.clone()), customer, now)
    }
}

pub(crate) fn access(snapshot: &Snapshot, customer: &str, now: Timestamp) -> String {
    let state = snapshot.state();
    let end_user = snapshot.end_user_context(None, customer, now);
    match decide(snapshot, state.customer(customer).unwrap(), state.model("frontier").unwrap(), &end_user, now) {
        Decision::Allow(_) => "allow".to_owned(),
        Decision::Deny(Denial::Directive { directive, .. }) => format!("deny directive {}", directive.id),
        Decision::Deny(denial) => format!("deny {}", denial.code()),
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering: times as offsets from T0, events and errors as one-line summaries.
// ---------------------------------------------------------------------------------------------

/// `d32`, `d3+2h`, or `d32+1ms`.
pub(crate) fn day(t: Timestamp) -> String {
    let ms = t.as_millis() - T0.as_millis();
    match ms.rem_euclid(DAY) {
        0 => format!("d{}", ms.div_euclid(DAY)),
        rest if rest % HOUR == 0 => format!("d{}+{}h", ms.div_euclid(DAY), rest / HOUR),
        rest => format!("d{}+{rest}ms", ms.div_euclid(DAY)),
    }
}

pub(crate) fn until(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "never".to_owned(), day)
}

pub(crate) fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Approve => "approve",
        Verdict::Deny => "deny",
    }
}

pub(crate) fn describe(event: &Event) -> String {
    match event {
        Event::StageChanged { from, to, .. } => format!("stage_changed {from}->{to}"),
        Event::ApplicationSignedOff { verdict: v, clauses, .. } => {
            format!("signed_off {} {}", verdict(*v), clauses.join(","))
        }
        Event::ApplicationDecided { outcome, clauses, grant_expires_at, appeal_by, on_appeal, .. } => {
            let mut text = format!("decided {}", verdict(*outcome));
            if *on_appeal {
                text.push_str(" on_appeal");
            }
            text.push_str(&format!(" clauses={}", clauses.join(",")));
            if *outcome == Verdict::Approve {
                text.push_str(&format!(" expires={}", until(*grant_expires_at)));
            }
            if let Some(by) = appeal_by {
                text.push_str(&format!(" appeal_by={}", day(*by)));
            }
            text
        }
        Event::GrantIssued { customer, expires_at, .. } => {
            format!("grant_issued {customer} expires={}", until(*expires_at))
        }
        Event::GrantRevoked { customer, effective_at, directive, .. } => {
            let mut text = format!("grant_revoked {customer} effective={}", day(*effective_at));
            if let Some(id) = directive {
                text.push_str(&format!(" directive={id}"));
            }
            text
        }
        Event::NoticeSent { recipients, public, effective_at, appeal_by, .. } => {
            let mut text = if *public { "public notice".to_owned() } else { "notice".to_owned() };
            if !recipients.is_empty() {
                let names: Vec<&str> = recipients.iter().map(CustomerId::as_str).collect();
                text.push_str(&format!(" to {}", names.join(",")));
            }
            text.push_str(&format!(" effective={}", day(*effective_at)));
            if let Some(by) = appeal_by {
                text.push_str(&format!(" appeal_by={}", day(*by)));
            }
            text
        }
        Event::AppealFiled { authority, original_deciders, due_at, original_in_force, .. } => {
            let deciders: Vec<String> =
                original_deciders.iter().map(|d| format!("{}/{}", d.authority, d.official)).collect();
            format!(
                "appeal_filed authority={authority} deciders={} due={} in_force={original_in_force}",
                deciders.join(","),
                day(*due_at)
            )
        }
        Event::AppealDecided { outcome, relief_until, .. } => {
            let mut text = format!("appeal_decided {}", AppealStatus::Decided(*outcome).name());
            if let Some(end) = relief_until {
                text.push_str(&format!(" until={}", day(*end)));
            }
            text
        }
        Event::DirectiveExemptionGranted { customer, until: end, .. } => {
            format!("exemption {customer} until={}", until(*end))
        }
        other => other.kind().to_owned(),
    }
}

pub(crate) fn summary(events: &[Event]) -> String {
    events.iter().map(describe).collect::<Vec<_>>().join("; ")
}

/// `kind: message`, so a row says both how and why a command was refused.
pub(crate) fn error(err: &CommandError) -> String {
    let kind = match err {
        CommandError::Forbidden { .. } => "forbidden",
        CommandError::NotFound { .. } => "not_found",
        CommandError::AlreadyExists { .. } => "already_exists",
        CommandError::Invalid(_) => "invalid",
        CommandError::Policy(_) => "policy",
        CommandError::Transition(_) => "transition",
        CommandError::ApplicationTransition(_) => "application_transition",
        CommandError::DeadlinePassed(_) => "deadline_passed",
        _ => "other",
    };
    format!("{kind}: {err}")
}

// ---------------------------------------------------------------------------------------------
// Commands, with the story's defaults.
// ---------------------------------------------------------------------------------------------

pub(crate) fn model(name: &str) -> ModelName {
    ModelName::parse(name).unwrap()
}

pub(crate) fn signoff(authorities: &[&str], required: u32) -> Procedure {
    Procedure {
        signoff: Quorum { authorities: authorities.iter().map(|a| AuthorityId::parse(a).unwrap()).collect(), required },
        ..Procedure::default()
    }
}

/// The story's procedure: `required` of bis, aisi and ncsc; default periods.
pub(crate) fn quorum(required: u32) -> Procedure {
    signoff(&["bis", "aisi", "ncsc"], required)
}

pub(crate) fn evidence() -> Evidence {
    Evidence { description: "KYC file".to_owned(), sha256: Some("a".repeat(64)), disclosure: Disclosure::Subject }
}

pub(crate) fn application(id: &str) -> ApplicationId {
    ApplicationId::parse(id).unwrap()
}

pub(crate) fn submit(app: &str, customer: &str) -> Command {
    Command::SubmitApplication {
        application: application(app),
        customer: CustomerId::parse(customer).unwrap(),
        model: model("frontier"),
        purpose: "red-teaming our own products".to_owned(),
    }
}

pub(crate) fn start(app: &str) -> Command {
    Command::StartApplicationReview { application: application(app) }
}

pub(crate) fn request_info(app: &str) -> Command {
    Command::RequestApplicationInfo { application: application(app), question: "who are the end users?".to_owned() }
}

pub(crate) fn amend(app: &str, purpose: &str) -> Command {
    Command::AmendApplication { application: application(app), purpose: purpose.to_owned() }
}

pub(crate) fn sign(app: &str, v: Verdict, clauses: &[&str]) -> Command {
    Command::SignOffApplication {
        application: application(app),
        verdict: v,
        reasons: "assessed against the criteria".to_owned(),
        clauses: clauses.iter().map(|c| (*c).to_owned()).collect(),
        evidence: vec![evidence()],
        grant_expires_at: None,
    }
}

pub(crate) fn withdraw(app: &str) -> Command {
    Command::WithdrawApplication { application: application(app), reason: "no longer needed".to_owned() }
}

pub(crate) fn denial(app: &str) -> AppealSubject {
    AppealSubject::ApplicationDenial { application: application(app) }
}

pub(crate) fn file(appeal: &str, customer: &str, subject: AppealSubject) -> Command {
    Command::FileAppeal {
        appeal: AppealId::parse(appeal).unwrap(),
        customer: CustomerId::parse(customer).unwrap(),
        subject,
        grounds: "the criteria are met".to_owned(),
    }
}

pub(crate) fn decide_appeal(appeal: &str, outcome: AppealOutcome, relief_until: Option<Timestamp>) -> Command {
    Command::DecideAppeal {
        appeal: AppealId::parse(appeal).unwrap(),
        outcome,
        reasons: "reconsidered".to_owned(),
        evidence: vec![evidence()],
        relief_until,
    }
}

/// A directive on `models`; `effective_at: None` is an emergency (justified).
pub(crate) fn directive(id: &str, models: &[&str], policies: &str, effective_at: Option<Timestamp>) -> Command {
    Command::IssueDirective {
        directive: DirectiveId::parse(id).unwrap(),
        legal_basis: "export control regulation 2026/1".to_owned(),
        description: format!("directive {id}"),
        scope: DirectiveScope::Models { models: models.iter().map(|m| model(m)).collect() },
        policies: policies.to_owned(),
        effective_at,
        expires_at: None,
        emergency_justification: effective_at.is_none().then(|| "imminent risk".to_owned()),
        evidence: vec![Evidence::withheld("threat assessment", "classified")],
    }
}

pub(crate) fn change_stage(target: StageTarget) -> Command {
    Command::ChangeStage { model: model("frontier"), target, reason: "release plan".to_owned() }
}

pub(crate) fn position(v: ReviewVerdict, reasons: &str) -> Command {
    Command::RecordReviewPosition { model: model("frontier"), verdict: v, reasons: reasons.to_owned() }
}

// ---------------------------------------------------------------------------------------------
// The story.
// ---------------------------------------------------------------------------------------------

/// Authorities bis, aisi, ncsc (the sign-off set) and fcc (outside it); customers acme and globex
/// (same attributes, so the same attribute class) and initech; `frontier` and `workhorse` in
/// draft with criteria, and `procedure` set on `frontier` when given.
pub(crate) fn draft_world(procedure: Option<Procedure>) -> World {
    let mut w = World::new();
    for (authority, name) in [
        ("bis", "Bureau of Industry and Security"),
        ("aisi", "AI Security Institute"),
        ("ncsc", "National Cyber Security Centre"),
        ("fcc", "Federal Communications Commission"),
    ] {
        w.run(
            "provider",
            Command::RegisterAuthority { authority: AuthorityId::parse(authority).unwrap(), name: name.to_owned() },
            T0,
        );
    }
    for (id, country, sector) in [("acme", "US", "defense"), ("globex", "US", "defense"), ("initech", "GB", "finance")]
    {
        let attributes = serde_json::json!({"country": country, "kyc": "verified", "sector": sector});
        w.run(
            "provider",
            Command::CreateCustomer {
                customer: CustomerId::parse(id).unwrap(),
                name: id.to_owned(),
                attributes: attributes.as_object().unwrap().clone(),
            },
            T0,
        );
    }
    for name in ["frontier", "workhorse"] {
        let upstream =
            Upstream { base_url: "http://127.0.0.1:9/v1".to_owned(), upstream_model: None, api_key_env: None };
        w.run("provider", Command::RegisterModel { model: model(name), description: name.to_owned(), upstream }, T0);
        w.run(
            "provider",
            Command::PublishCriteria {
                model: model(name),
                text: "KYC verified, or a US entity".to_owned(),
                policies: CRITERIA.to_owned(),
            },
            T0,
        );
    }
    if let Some(procedure) = procedure {
        w.run("provider", Command::SetProcedure { model: model("frontier"), procedure }, T0);
    }
    w
}

/// `frontier`, 2 of (bis, aisi, ncsc), entered review at T0, cleared by bis and aisi on day 1,
/// in preview from T1.
pub(crate) fn story() -> World {
    let mut w = draft_world(Some(quorum(2)));
    w.run("provider", change_stage(StageTarget::Review), T0);
    w.run("bis/j.doe", position(ReviewVerdict::Clear, "no findings"), at(1));
    w.run("aisi/a.smith", position(ReviewVerdict::Clear, "evaluations passed"), at(1));
    let events = w.run("provider", change_stage(StageTarget::Preview), T1);
    let Some(Event::StageChanged { clearance, .. }) = events.first() else { panic!("{}", summary(&events)) };
    let authorities = vec![AuthorityId::parse("bis").unwrap(), AuthorityId::parse("aisi").unwrap()];
    assert_eq!(*clearance, Some(Clearance::Cleared { authorities }));
    w
}

/// The story, then everything the process does after it: approved, denied then reversed on
/// appeal, amended then withdrawn, revoked with notice, a directive with an exemption.
pub(crate) fn full_story() -> World {
    let mut w = story();
    // Approved, denied then reversed on appeal, amended then withdrawn, revoked with notice,
    // a directive with an exemption.
    approve(&mut w, "app-1", "globex", T1);
    deny(&mut w, "app-2", "acme", T1);
    w.run("acme", file("ap-1", "acme", denial("app-2")), NOW);
    w.run("bis/r.roe", decide_appeal("ap-1", AppealOutcome::Reversed, None), at(4));
    w.run("initech", submit("app-3", "initech"), at(4));
    w.run("ncsc/c.lee", start("app-3"), at(4));
    w.run("ncsc/c.lee", request_info("app-3"), at(5));
    w.run("initech", amend("app-3", "now with end users named"), at(6));
    w.run("initech", withdraw("app-3"), at(7));
    w.run(
        "aisi/a.smith",
        Command::RevokeGrant {
            customer: CustomerId::parse("globex").unwrap(),
            model: model("frontier"),
            effective_at: None,
            reason: "terms breached".to_owned(),
            directive: None,
        },
        at(8),
    );
    let defense =
        r#"forbid(principal, action, resource) when { principal has sector && principal.sector == "defense" };"#;
    w.run("ncsc/c.lee", directive("EC-DEF", &["frontier"], defense, None), at(9));
    w.run(
        "acme",
        file("ap-2", "acme", AppealSubject::Directive { directive: DirectiveId::parse("EC-DEF").unwrap() }),
        at(9),
    );
    w.run("ncsc/d.kim", decide_appeal("ap-2", AppealOutcome::Modified, Some(at(30))), at(10));
    w
}

/// Submitted by `customer`, taken up by bis, approved by bis and aisi, all at `now`.
pub(crate) fn approve(w: &mut World, app: &str, customer: &str, now: Timestamp) {
    w.run(customer, submit(app, customer), now);
    w.run("bis/j.doe", start(app), now);
    w.run("bis/j.doe", sign(app, Verdict::Approve, &["kyc-verified"]), now);
    w.run("aisi/a.smith", sign(app, Verdict::Approve, &["kyc-verified"]), now);
}

/// Submitted by `customer`, taken up by bis, denied by bis (j.doe) and aisi (a.smith), at `now`.
pub(crate) fn deny(w: &mut World, app: &str, customer: &str, now: Timestamp) {
    w.run(customer, submit(app, customer), now);
    w.run("bis/j.doe", start(app), now);
    w.run("bis/j.doe", sign(app, Verdict::Deny, &["us-entity"]), now);
    w.run("aisi/a.smith", sign(app, Verdict::Deny, &["us-entity"]), now);
}
