pub mod aws_calls;
pub mod conformance;
pub mod function_binary;
pub mod moto;
pub mod runtime_api;
pub mod venv;
