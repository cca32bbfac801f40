//! One test's deployment on the emulator ([`Emulated`]), with builds of
//! made-up packages: moto stores code without running it, and the real
//! binaries are deployed by `cargo xtask test`'s arm64 step.

use std::collections::BTreeMap;
use std::path::Path;

use deployer::bundle::{Arch, Artifact, Manifest, package};
use deployer::cfn::Template;
use deployer::deploy::destroy::{Destroyed, Question, destroy};
use deployer::deploy::progress::Progress;
use deployer::deploy::stacks;
use deployer::deploy::{Aws, DeployOptions, DeployRequest, InFlight, Outcome, deploy};
use deployer::stack::{Function, Table, TableResources, data_stack_name};
use deployer::{StackOptions, app_stack};
use service::api::DEFAULT_TEST_STREAM_ID;
use service::dynamo::TableNames;
use tempfile::TempDir;

pub(crate) const API_KEY: &str = "deploy-test-key-0123456789abcdef";

pub(crate) fn options() -> DeployOptions {
    DeployOptions::for_emulator()
}

/// One test's stack on the emulator, under a name no other test uses,
/// and what the engine needs and says while it works on it.
pub(crate) struct Emulated {
    pub aws: Aws,
    pub stack: String,
    pub template: Template,
    /// Where the builds' packages are written.
    dir: TempDir,
    pub progress: Progress,
    pub in_flight: InFlight,
}

impl Emulated {
    pub async fn new(label: &str) -> Emulated {
        Emulated::on(testkit::moto::shared_endpoint(), label).await
    }

    /// On the emulator at `endpoint`, under the deployment name `stack`.
    pub async fn named(endpoint: &str, stack: &str) -> Emulated {
        let config = service::aws::sdk_config_for_endpoint(endpoint).await;
        let stack = stack.to_owned();
        Emulated {
            aws: Aws::new(&config).expect("clients"),
            template: app_stack(&StackOptions {
                stack_name: stack.clone(),
                ..StackOptions::default()
            }),
            stack,
            dir: tempfile::tempdir().expect("temp dir"),
            progress: Progress::recorded(),
            in_flight: InFlight::default(),
        }
    }

    /// On the emulator at `endpoint`, under a name no other test uses.
    pub async fn on(endpoint: &str, label: &str) -> Emulated {
        let stack = format!("evs-{label}-{}", uuid::Uuid::new_v4().simple())[..30].to_owned();
        Emulated::named(endpoint, &stack).await
    }

    /// A build with the functions at `versions` (1 when not named).
    pub fn build(&self, versions: &[(&str, u32)]) -> Manifest {
        manifest(self.dir.path(), &versions.iter().copied().collect())
    }

    pub fn request<'a>(&'a self, manifest: &'a Manifest) -> DeployRequest<'a> {
        DeployRequest {
            stack_name: &self.stack,
            template: &self.template,
            manifest,
            api_key: API_KEY,
            test_stream_id: DEFAULT_TEST_STREAM_ID,
            confirm: &|_| Ok(false),
        }
    }

    /// Deploys `manifest`, answering no to every question.
    pub async fn deploy(
        &self,
        manifest: &Manifest,
        options: &DeployOptions,
    ) -> anyhow::Result<Outcome> {
        self.deploy_answering(manifest, options, &|_| Ok(false))
            .await
    }

    /// Deploys `manifest`, answering every question with `confirm`.
    pub async fn deploy_answering(
        &self,
        manifest: &Manifest,
        options: &DeployOptions,
        confirm: &dyn Fn(&Question) -> anyhow::Result<bool>,
    ) -> anyhow::Result<Outcome> {
        let request = DeployRequest {
            confirm,
            ..self.request(manifest)
        };
        deploy(
            &self.aws,
            &request,
            options,
            &self.progress,
            &self.in_flight,
        )
        .await
    }

    /// Destroys the stack, answering every question with `confirm`.
    pub async fn destroy(
        &self,
        delete_data: bool,
        confirm: &mut dyn FnMut(&Question) -> anyhow::Result<bool>,
    ) -> anyhow::Result<Destroyed> {
        destroy(
            &self.aws,
            &self.stack,
            delete_data,
            confirm,
            &options(),
            &self.progress,
            &self.in_flight,
        )
        .await
    }

    /// The app stack's resources, and its data stack's (the event store's
    /// tables), by logical ID: no ID is in both.
    pub async fn physical_ids(&self) -> BTreeMap<String, String> {
        let mut ids = stacks::physical_ids(&self.aws.cloudformation, &self.stack)
            .await
            .expect("stack resources");
        let data = self.data_physical_ids().await;
        for (id, physical) in data {
            assert!(ids.insert(id.clone(), physical).is_none(), "{id} in both");
        }
        ids
    }

    /// The four tables, by the names both stacks gave them.
    pub async fn deployed_tables(&self) -> TableNames {
        let ids = self.physical_ids().await;
        let name = |table: Table| ids[table.logical_id().as_str()].clone();
        TableNames {
            events: name(Table::Events),
            stream_index: name(Table::StreamIndex),
            read_model: name(Table::ReadModel),
            replays: name(Table::Replays),
        }
    }

    /// The event store's two tables, by the names the data stack gave
    /// them (the app's tables left unnamed).
    pub async fn event_store_tables(&self) -> TableNames {
        let ids = self.data_physical_ids().await;
        TableNames {
            events: ids[Table::Events.logical_id().as_str()].clone(),
            stream_index: ids[Table::StreamIndex.logical_id().as_str()].clone(),
            read_model: String::new(),
            replays: String::new(),
        }
    }

    pub async fn data_physical_ids(&self) -> BTreeMap<String, String> {
        stacks::physical_ids(&self.aws.cloudformation, &data_stack_name(&self.stack))
            .await
            .expect("data stack resources")
    }

    pub async fn exists(&self) -> bool {
        stacks::describe(&self.aws.cloudformation, &self.stack)
            .await
            .expect("describe")
            .is_some()
    }

    pub async fn data_exists(&self) -> bool {
        stacks::describe(&self.aws.cloudformation, &data_stack_name(&self.stack))
            .await
            .expect("describe")
            .is_some()
    }

    pub async fn deployed_template(&self) -> String {
        stacks::deployed_template(&self.aws.cloudformation, &self.stack)
            .await
            .expect("template")
    }

    pub async fn event_count(&self) -> usize {
        self.aws
            .cloudformation
            .describe_stack_events()
            .stack_name(&self.stack)
            .send()
            .await
            .expect("stack events")
            .stack_events()
            .len()
    }
}

/// A build whose packages are zips of `bootstrap` files holding
/// `<function>-<version>`: a new version is new code.
fn manifest(dir: &Path, versions: &BTreeMap<&str, u32>) -> Manifest {
    let mut functions = BTreeMap::new();
    for function in Function::ALL {
        let version = versions.get(function.name()).copied().unwrap_or(1);
        let zip = package::zip_bootstrap(format!("{}-{version}", function.name()).as_bytes())
            .expect("zip");
        let sha256 = package::sha256_hex(&zip);
        let path = dir.join(format!("{}-{sha256}.zip", function.name()));
        std::fs::write(&path, &zip).expect("write the zip");
        functions.insert(
            function.name().to_owned(),
            Artifact {
                path,
                key: format!("{}/{sha256}.zip", function.name()),
                size: zip.len() as u64,
                sha256,
                linkage: "test".to_owned(),
            },
        );
    }
    Manifest {
        arch: Arch::Arm64,
        target: Arch::Arm64.triple().to_owned(),
        linker: "test".to_owned(),
        functions,
    }
}

/// The physical names of the tables the template keeps.
pub(crate) fn retained_tables(ids: &BTreeMap<String, String>) -> Vec<String> {
    Table::ALL
        .into_iter()
        .filter(|t| t.is_retained())
        .map(|t| ids[t.logical_id().as_str()].clone())
        .collect()
}

pub(crate) fn always(answer: bool) -> impl FnMut(&Question) -> anyhow::Result<bool> {
    move |_| Ok(answer)
}
