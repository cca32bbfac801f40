//! The template's parameters: everything that differs between deploys
//! of one template (the packages' keys, the API key, the test stream).

use service::api::DEFAULT_TEST_STREAM_ID;

use super::Function;
use crate::cfn::{LogicalId, Parameter, Template};
use crate::stack::FunctionResources;

/// Parameter (`NoEcho`): the API key's value; never written in a template.
pub const API_KEY_PARAMETER: &str = "ApiKeyValue";
/// Parameter: the stream `GET /listTestItems` shows by default.
pub const TEST_STREAM_ID_PARAMETER: &str = "TestStreamId";

pub(super) struct Parameters {
    pub code_bucket: LogicalId,
    pub api_key: LogicalId,
    pub test_stream_id: LogicalId,
}

pub(super) fn add_parameters(template: &mut Template, code_bucket: LogicalId) -> Parameters {
    for function in Function::ALL {
        template.parameter(
            function.code_key_parameter().as_str(),
            Parameter {
                min_length: Some(1),
                // Content-addressed: a new build gets a new key, which is
                // what makes CloudFormation update the code.
                ..Parameter::string(format!(
                    "The S3 key of the {} package; a new build must use a new key",
                    function.name()
                ))
            },
        );
    }
    let api_key = template.parameter(
        API_KEY_PARAMETER,
        Parameter {
            no_echo: true,
            min_length: Some(20),
            max_length: Some(128),
            allowed_pattern: Some("^[!-~]+$".to_owned()),
            constraint_description: Some(
                "20 to 128 printable ASCII characters without spaces".to_owned(),
            ),
            ..Parameter::string("The value clients send in the x-api-key header")
        },
    );
    let test_stream_id = template.parameter(
        TEST_STREAM_ID_PARAMETER,
        Parameter {
            default: Some(DEFAULT_TEST_STREAM_ID.to_owned()),
            min_length: Some(1),
            max_length: Some(256),
            ..Parameter::string("The stream GET /listTestItems shows when no streamId is given")
        },
    );
    Parameters {
        code_bucket,
        api_key,
        test_stream_id,
    }
}
