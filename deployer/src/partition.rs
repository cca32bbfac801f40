//! Which AWS partition a region is in, for the URLs the deployer builds
//! itself: the DNS suffix of `https://<bucket>.s3.<region>.<suffix>/` and
//! of `https://<api>.execute-api.<region>.<suffix>/`. The template asks
//! CloudFormation (`AWS::URLSuffix`); these are the same answers, from the
//! partitions the AWS SDKs ship (`partitions.json`: a region belongs to
//! the first partition whose `regionRegex` it matches).

/// The DNS suffix of `region`'s partition; `amazonaws.com` for the
/// commercial partition and any region not known to be elsewhere.
pub fn dns_suffix(region: &str) -> &'static str {
    // Longest prefixes first: `us-isob-` before `us-iso-`.
    const PARTITIONS: [(&str, &str); 6] = [
        ("cn-", "amazonaws.com.cn"),
        ("us-isob-", "sc2s.sgov.gov"),
        ("us-isof-", "csp.hci.ic.gov"),
        ("us-iso-", "c2s.ic.gov"),
        ("eu-isoe-", "cloud.adc-e.uk"),
        ("eusc-", "amazonaws.eu"),
    ];
    PARTITIONS
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("amazonaws.com", |(_, suffix)| suffix)
}

/// The host of `region`'s AWS console, where it has a public one:
/// `<region>.console.aws.amazon.com`, China's and GovCloud's own; `None`
/// for the isolated partitions.
pub fn console_host(region: &str) -> Option<String> {
    match dns_suffix(region) {
        "amazonaws.com" if region.starts_with("us-gov-") => {
            Some(format!("{region}.console.amazonaws-us-gov.com"))
        }
        "amazonaws.com" => Some(format!("{region}.console.aws.amazon.com")),
        "amazonaws.com.cn" => Some(format!("{region}.console.amazonaws.cn")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_is_the_partitions_own() {
        assert_eq!(
            console_host("eu-west-1").as_deref(),
            Some("eu-west-1.console.aws.amazon.com")
        );
        assert_eq!(
            console_host("cn-north-1").as_deref(),
            Some("cn-north-1.console.amazonaws.cn")
        );
        assert_eq!(
            console_host("us-gov-west-1").as_deref(),
            Some("us-gov-west-1.console.amazonaws-us-gov.com")
        );
        assert_eq!(console_host("us-iso-east-1"), None);
    }

    #[test]
    fn each_region_gets_its_partitions_suffix() {
        for (region, suffix) in [
            ("us-east-1", "amazonaws.com"),
            ("eu-west-3", "amazonaws.com"),
            ("us-gov-west-1", "amazonaws.com"),
            ("cn-north-1", "amazonaws.com.cn"),
            ("cn-northwest-1", "amazonaws.com.cn"),
            ("us-iso-east-1", "c2s.ic.gov"),
            ("us-isob-east-1", "sc2s.sgov.gov"),
            ("us-isof-south-1", "csp.hci.ic.gov"),
            ("eu-isoe-west-1", "cloud.adc-e.uk"),
            ("eusc-de-east-1", "amazonaws.eu"),
        ] {
            assert_eq!(dns_suffix(region), suffix, "{region}");
        }
    }
}
