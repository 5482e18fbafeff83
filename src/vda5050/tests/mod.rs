//! The profile's tests, one concern per file, on the fixtures of `fixtures`.

mod fixtures;
mod hostile;
mod instant;
mod orders;
mod publishing;
mod runner;
mod schemas;
