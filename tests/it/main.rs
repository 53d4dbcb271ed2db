//! The integration tests: one binary, so the AWS SDK is linked once and one local AWS (the
//! emulator, tests/emulator) serves every test. The fixture (`common`) resets it before each test
//! that uses it, and those tests take turns; tests that need no AWS run alongside.

mod common;

mod assets;
mod bad_input;
mod ci_credentials;
mod ci_github;
mod faults;
mod pipeline;
mod roles;
mod secrets;
mod verify_network;
