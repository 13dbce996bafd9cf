//! The demo world: the brief's story, seeded through the same commands the admin API uses.
//!
//! - `frontier`: in `preview`, granted to `acme` only; criteria require verified KYC.
//! - `workhorse`: in `general`; the same criteria.
//! - Directive `EC-2026-001` of authority `bis`: on `frontier`, cuts every end user not attested
//!   as a US national; issued with zero notice, so it is flagged as an emergency.
//! - Customers `acme` (granted), `globex` (not granted), `initech` (KYC pending).

use anyhow::Context as _;
use portcullis_core::application::Verdict;
use portcullis_core::procedure::{Procedure, Quorum, ReviewVerdict};
use portcullis_core::{
    Actor, ApplicationId, AuthorityId, Command, CustomerId, DirectiveId, DirectiveScope, Evidence, KeyId, ModelName,
    OfficialName, SecretHash, StageTarget, TokenId, Upstream,
};

use crate::engine::Engine;
use crate::routes::admin::{new_id, new_secret};

/// The demo authority.
pub const AUTHORITY: &str = "bis";
/// The demo official.
pub const OFFICIAL: &str = "a.reviewer";
/// The demo directive.
pub const DIRECTIVE: &str = "EC-2026-001";
/// The demo models, with the stages they reach.
pub const MODELS: [(&str, &[StageTarget]); 2] = [
    ("frontier", &[StageTarget::Review, StageTarget::Preview]),
    ("workhorse", &[StageTarget::Review, StageTarget::General]),
];

/// The clause of [`CRITERIA`] the demo's approval cites.
const CRITERIA_CLAUSE: &str = "kyc-verified";

/// The criteria both demo models publish.
pub const CRITERIA: &str = r#"// Access criteria (demo). Each clause has a stable id that decisions cite.
@id("kyc-verified")
@description("The customer has completed know-your-customer verification")
permit (principal, action == Action::"invoke", resource)
when { principal has kyc && principal.kyc == "verified" };
"#;

/// The demo directive's policy.
pub const DIRECTIVE_POLICY: &str = r#"// Export-control directive (demo): only end users attested as US nationals.
@id("us-nationals-only")
@description("End users must hold an attestation of US nationality")
forbid (principal, action, resource == Model::"frontier")
unless {
  context has end_user &&
  context.end_user has nationalities &&
  context.end_user.nationalities.contains("US")
};
"#;

/// One seeded customer and its key (the only time the key exists in plain text).
#[derive(Clone, Debug)]
pub struct DemoCustomer {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// API key.
    pub api_key: String,
    /// What this customer shows in the demo.
    pub story: String,
}

/// What the seed created.
#[derive(Clone, Debug)]
pub struct DemoWorld {
    /// The customers with their keys.
    pub customers: Vec<DemoCustomer>,
    /// The official's role token.
    pub authority_token: String,
}

/// Seeds the demo world into an empty state.
///
/// # Errors
///
/// Fails if any command is refused (e.g. the state is not empty).
pub async fn seed(engine: &Engine, upstream_base_url: &str) -> anyhow::Result<DemoWorld> {
    let provider = Actor::Provider { name: "demo-operator".to_owned() };
    let authority = AuthorityId::parse(AUTHORITY)?;
    let official = OfficialName::parse(OFFICIAL)?;
    let official_actor = Actor::Authority { authority: authority.clone(), official: official.clone() };
    let run = |actor: &Actor, command: Command| {
        let actor = actor.clone();
        async move { engine.submit(actor, command).await.context("the demo seed was refused") }
    };

    run(
        &provider,
        Command::RegisterAuthority {
            authority: authority.clone(),
            name: "Bureau of Industry and Security (demo)".to_owned(),
        },
    )
    .await?;
    let authority_token = new_secret("pct_");
    run(
        &provider,
        Command::IssueOfficialToken {
            token_id: TokenId::parse(&new_id("tok_"))?,
            authority: authority.clone(),
            official,
            token_hash: SecretHash::of_secret(&authority_token),
        },
    )
    .await?;

    let people = [
        ("acme", "Acme Research", "US", "verified", "holds a preview grant for frontier"),
        ("globex", "Globex Corporation", "US", "verified", "no grant for frontier: denied there, fine on workhorse"),
        ("initech", "Initech GmbH", "DE", "pending", "KYC pending: fails the criteria of both models"),
    ];
    let mut customers = Vec::new();
    for (id, name, country, kyc, story) in people {
        let customer = CustomerId::parse(id)?;
        let attributes = serde_json::json!({ "country": country, "kyc": kyc });
        let attributes = attributes.as_object().cloned().unwrap_or_default();
        run(&provider, Command::CreateCustomer { customer: customer.clone(), name: name.to_owned(), attributes })
            .await?;
        let api_key = new_secret("pcl_");
        run(
            &provider,
            Command::IssueKey {
                customer,
                key_id: KeyId::parse(&new_id("key_"))?,
                label: "demo".to_owned(),
                key_hash: SecretHash::of_secret(&api_key),
            },
        )
        .await?;
        customers.push(DemoCustomer { id: id.to_owned(), name: name.to_owned(), api_key, story: story.to_owned() });
    }

    for (name, stages) in MODELS {
        let model = ModelName::parse(name)?;
        run(
            &provider,
            Command::RegisterModel {
                model: model.clone(),
                description: format!("{name} (demo; served by the built-in demo upstream)"),
                upstream: Upstream { base_url: upstream_base_url.to_owned(), upstream_model: None, api_key_env: None },
            },
        )
        .await?;
        run(
            &provider,
            Command::PublishCriteria {
                model: model.clone(),
                text: "Customers must have completed KYC verification.".to_owned(),
                policies: CRITERIA.to_owned(),
            },
        )
        .await?;
        run(
            &provider,
            Command::SetProcedure {
                model: model.clone(),
                procedure: Procedure {
                    signoff: Quorum { authorities: vec![authority.clone()], required: 1 },
                    ..Procedure::default()
                },
            },
        )
        .await?;
        for target in stages {
            run(
                &provider,
                Command::ChangeStage { model: model.clone(), target: *target, reason: "demo release plan".to_owned() },
            )
            .await?;
            if *target == StageTarget::Review {
                // The authority clears the model before the review clock runs out.
                run(
                    &official_actor,
                    Command::RecordReviewPosition {
                        model: model.clone(),
                        verdict: ReviewVerdict::Clear,
                        reasons: "pre-release evaluation reviewed; no objection (demo)".to_owned(),
                    },
                )
                .await?;
            }
        }
    }

    // Acme's preview access goes through the process: an application, taken up and approved
    // by the authority's official with reasons and the clause relied on.
    let acme = Actor::Customer { customer: CustomerId::parse("acme")? };
    let application = ApplicationId::parse(&new_id("app_"))?;
    run(
        &acme,
        Command::SubmitApplication {
            application: application.clone(),
            customer: CustomerId::parse("acme")?,
            model: ModelName::parse("frontier")?,
            purpose: "Evaluating frontier for internal code review tooling (demo)".to_owned(),
        },
    )
    .await?;
    run(&official_actor, Command::StartApplicationReview { application: application.clone() }).await?;
    run(
        &official_actor,
        Command::SignOffApplication {
            application,
            verdict: Verdict::Approve,
            reasons: "KYC verified; stated purpose is within the preview programme (demo)".to_owned(),
            clauses: vec![CRITERIA_CLAUSE.to_owned()],
            evidence: Vec::new(),
            grant_expires_at: None,
        },
    )
    .await?;
    run(
        &official_actor,
        Command::IssueDirective {
            directive: DirectiveId::parse(DIRECTIVE)?,
            legal_basis: "Export Administration Regulations, 15 CFR 744 (demo)".to_owned(),
            description: "Access to frontier only for end users attested as US nationals".to_owned(),
            scope: DirectiveScope::Models { models: vec![ModelName::parse("frontier")?] },
            policies: DIRECTIVE_POLICY.to_owned(),
            effective_at: None,
            expires_at: None,
            emergency_justification: Some(
                "Same-day order received at 17:21; no notice period possible (demo)".to_owned(),
            ),
            evidence: vec![Evidence::withheld(
                "assessment",
                "classified national-security assessment (demo)".to_owned(),
            )],
        },
    )
    .await?;
    Ok(DemoWorld { customers, authority_token })
}

/// Points the demo models at the demo upstream on the current address (the port may differ
/// between runs of `portcullis demo`).
///
/// # Errors
///
/// Fails if the command is refused.
pub async fn repoint_upstreams(engine: &Engine, upstream_base_url: &str) -> anyhow::Result<()> {
    let provider = Actor::Provider { name: "demo-operator".to_owned() };
    for (name, _) in MODELS {
        let snapshot = engine.snapshot();
        let Some(model) = snapshot.state().model(name) else { continue };
        if model.upstream.base_url != upstream_base_url {
            let upstream = Upstream { base_url: upstream_base_url.to_owned(), upstream_model: None, api_key_env: None };
            engine.submit(provider.clone(), Command::SetUpstream { model: ModelName::parse(name)?, upstream }).await?;
        }
    }
    Ok(())
}
