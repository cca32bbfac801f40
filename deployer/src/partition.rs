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

#[cfg(test)]
mod tests {
    use super::*;

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
