//! Integration tests over real HTTP. One binary: every module below is
//! linked together so the suite builds once.

mod support;

mod accounts;
mod care_team;
mod clinical;
mod companion;
mod demo;
mod fhir;
mod hardening;
mod mood;
mod protection;
mod protections;
mod sessions;
mod web;
