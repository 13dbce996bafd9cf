//! The provider console under `/console/provider`: models, their deployments (upstreams) and
//! fallbacks, release stages, the review clock, and stage transitions (`ChangeStage`, as
//! `POST /admin/v1/models/{model}/stage`).

pub mod models;
