//! The Engine: one method per user operation, plain options in, plain reports out.
//! `LocalEngine` implements it in-process; a RemoteEngine will implement it over the REST
//! API, so that the CLI code is the same for both (Podman's ContainerEngine/ImageEngine).

use crate::error::Result;
use crate::images::RmiReport;
use crate::local::LocalEngine;
use crate::types::{
    CreateOptions, ExecOptions, ImageSummary, LogLine, LogOptions, PsEntry, PsOptions,
};
use serde_json::{json, Value};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

pub trait Engine: Send + Sync {
    // images
    fn image_load(&self, path: &Path) -> Result<Vec<String>>;
    fn image_import(
        &self,
        path: &Path,
        reference: Option<&str>,
        changes: &[String],
        message: Option<&str>,
    ) -> Result<String>;
    fn image_list(&self, all: bool) -> Result<Vec<ImageSummary>>;
    fn image_inspect(&self, key: &str) -> Result<Value>;
    fn image_tag(&self, image: &str, names: &[String]) -> Result<()>;
    fn image_untag(&self, image: &str, names: &[String]) -> Result<()>;
    fn image_remove(&self, keys: &[String], force: bool, all: bool) -> Result<RmiReport>;
    fn image_exists(&self, key: &str) -> Result<bool>;
    fn image_prune(&self, all: bool) -> Result<Vec<String>>;
    /// `image mount IMAGE`: (image ID, path).
    fn image_mount(&self, key: &str) -> Result<(String, std::path::PathBuf)>;
    fn mounted_images(&self) -> Result<Vec<crate::image_mount::ImageMount>>;
    /// `image unmount IMAGE`: the image ID if it was mounted.
    fn image_unmount(&self, key: &str, force: bool) -> Result<Option<String>>;
    /// `commit CONTAINER [IMAGE]`: the new image's ID.
    fn container_commit(
        &self,
        key: &str,
        reference: Option<&str>,
        opts: &crate::commit::CommitOptions,
        events: &mut dyn FnMut(crate::commit::CommitEvent<'_>),
    ) -> Result<String>;
    fn image_save(
        &self,
        names: &[String],
        opts: &crate::save::SaveOptions,
        dest: crate::save::SaveDest<'_>,
        events: &mut dyn FnMut(berth_image::SaveEvent<'_>),
    ) -> Result<()>;
    fn image_history(&self, key: &str) -> Result<Vec<crate::save::HistoryEntry>>;
    /// `build`: the final image's ID; progress and RUN output on `out`.
    fn image_build(
        &self,
        opts: &crate::build::BuildOptions,
        out: &mut dyn std::io::Write,
    ) -> Result<String>;
    fn image_pull(
        &self,
        reference: &str,
        opts: &crate::pull::PullOptions,
        events: &mut dyn FnMut(crate::pull::PullEvent),
    ) -> Result<String>;
    fn image_push(
        &self,
        image: &str,
        destination: Option<&str>,
        opts: &crate::pull::PullOptions,
        events: &mut dyn FnMut(crate::push::PushEvent),
    ) -> Result<String>;
    // manifest lists
    fn manifest_create(
        &self,
        name: &str,
        images: &[String],
        opts: &crate::pull::PullOptions,
    ) -> Result<String>;
    fn manifest_add(
        &self,
        name: &str,
        image: &str,
        entry: &crate::manifest::ManifestEntryOptions,
        opts: &crate::pull::PullOptions,
    ) -> Result<String>;
    fn manifest_inspect(&self, name: &str, opts: &crate::pull::PullOptions) -> Result<Value>;
    fn manifest_annotate(
        &self,
        name: &str,
        digest: &str,
        entry: &crate::manifest::ManifestEntryOptions,
    ) -> Result<String>;
    fn manifest_remove(&self, names: &[String]) -> Result<()>;
    fn manifest_exists(&self, name: &str) -> Result<bool>;
    fn manifest_push(
        &self,
        name: &str,
        destination: &str,
        all: bool,
        opts: &crate::pull::PullOptions,
        events: &mut dyn FnMut(crate::push::PushEvent),
    ) -> Result<String>;
    // containers
    fn container_create(&self, opts: &CreateOptions) -> Result<String>;
    fn container_init(&self, key: &str) -> Result<String>;
    fn container_start(&self, key: &str, attach: bool) -> Result<(String, Option<UnixStream>)>;
    fn container_attach(&self, key: &str) -> Result<(String, UnixStream)>;
    fn container_stop(&self, key: &str, timeout: Option<u32>) -> Result<String>;
    fn container_kill(&self, key: &str, signal: i32) -> Result<String>;
    fn container_remove(&self, key: &str, force: bool, timeout: u32, volumes: bool) -> Result<()>;
    /// (dependent, dependency) pairs of container IDs (`container:` namespaces, pods).
    fn container_dependencies(&self) -> Result<Vec<(String, String)>>;
    fn container_update(
        &self,
        key: &str,
        flags: &crate::resources::ResourceFlags,
    ) -> Result<String>;
    fn container_list(&self, opts: &PsOptions) -> Result<Vec<PsEntry>>;
    fn container_inspect(&self, key: &str) -> Result<Value>;
    fn container_logs(
        &self,
        key: &str,
        opts: &LogOptions,
        out: &mut dyn FnMut(&LogLine) -> std::io::Result<()>,
    ) -> Result<()>;
    fn container_wait(&self, key: &str, conditions: &[String], interval: Duration) -> Result<i32>;
    fn container_exec(&self, key: &str, opts: &ExecOptions) -> Result<i32>;
    /// `top`: lines of tab-separated columns (or ps(1)'s own lines, for descriptors
    /// Podman hands to the container's ps).
    fn container_top(&self, key: &str, descriptors: &[String]) -> Result<Vec<String>>;
    /// One stats sample; `prev` is the container's previous sample in this stream.
    fn container_stats(
        &self,
        key: &str,
        prev: Option<&crate::stats::ContainerStats>,
    ) -> Result<crate::stats::ContainerStats>;
    fn container_rename(&self, key: &str, new_name: &str) -> Result<()>;
    fn container_pause(&self, key: &str, pause: bool) -> Result<String>;
    fn container_exists(&self, key: &str) -> Result<bool>;
    fn container_prune(&self) -> Result<Vec<String>>;
    fn container_cleanup(&self, key: &str) -> Result<()>;
    /// Records an exit the monitor reported, if its cleanup has not run yet.
    fn container_sync(&self, key: &str) -> Result<()>;
    fn container_lookup(&self, key: &str) -> Result<String>;
    fn container_ids(&self) -> Result<Vec<String>>;
    fn container_latest(&self) -> Result<String>;
    /// The pid of a running container's main process (for signal proxying).
    fn container_pid(&self, key: &str) -> Result<i32>;
    fn container_mount(&self, key: &str) -> Result<std::path::PathBuf>;
    fn mounted_containers(&self) -> Result<Vec<(String, std::path::PathBuf)>>;
    fn container_unmount(&self, key: &str) -> Result<String>;
    fn container_export(&self, key: &str, out: &mut dyn std::io::Write) -> Result<()>;
    // cp and diff (see the `copy` module)
    fn container_copy_stat(&self, key: &str, path: &str) -> Result<Option<crate::copy::CopyStat>>;
    fn container_copy_out(
        &self,
        key: &str,
        path: &str,
        top: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<()>;
    fn container_copy_in(
        &self,
        key: &str,
        dir: &str,
        tar: &mut dyn std::io::Read,
        opts: &crate::copy::CopyInOptions,
    ) -> Result<()>;
    fn diff(&self, key: &str, kind: crate::copy::DiffKind) -> Result<Vec<berth_storage::Change>>;
    // registries
    fn short_name_choice(
        &self,
        reference: &str,
        tty: bool,
    ) -> Result<Option<(String, Vec<String>)>>;
    fn record_short_name_alias(&self, short_name: &str, repository: &str) -> Result<()>;
    fn image_search(
        &self,
        term: &str,
        limit: usize,
        list_tags: bool,
        opts: &crate::pull::PullOptions,
    ) -> Result<Vec<crate::search::SearchResult>>;
    fn login(
        &self,
        registry: &str,
        user: &str,
        password: &str,
        opts: &crate::pull::PullOptions,
    ) -> Result<()>;
    fn login_user(&self, registry: &str, opts: &crate::pull::PullOptions) -> Result<String>;
    fn logout(&self, registry: Option<&str>, opts: &crate::pull::PullOptions) -> Result<()>;
    // volumes
    fn volume_create(&self, opts: &crate::volumes::VolumeCreateOptions) -> Result<String>;
    fn volume_list(&self, filters: &[String]) -> Result<Vec<Value>>;
    fn volume_inspect(&self, name: &str) -> Result<Value>;
    fn volume_remove(&self, name: &str, force: bool) -> Result<()>;
    fn volume_prune(&self, filters: &[String]) -> Result<Vec<String>>;
    fn volume_exists(&self, name: &str) -> Result<bool>;
    fn volume_export(&self, name: &str, out: &mut dyn std::io::Write) -> Result<()>;
    fn volume_import(&self, name: &str, input: &mut dyn std::io::Read) -> Result<()>;
    // pods
    fn pod_create(&self, opts: &crate::pod::PodCreateOptions) -> Result<String>;
    fn pod_list(&self) -> Result<Vec<Value>>;
    fn pod_inspect(&self, key: &str) -> Result<Value>;
    fn pod_start(&self, key: &str) -> Result<String>;
    fn pod_stop(&self, key: &str, timeout: Option<u32>) -> Result<String>;
    fn pod_kill(&self, key: &str, signal: i32) -> Result<String>;
    fn pod_pause(&self, key: &str, pause: bool) -> Result<String>;
    fn pod_remove(&self, key: &str, force: bool, timeout: u32) -> Result<String>;
    fn pod_prune(&self) -> Result<Vec<String>>;
    fn pod_exists(&self, key: &str) -> Result<bool>;
    fn pod_clone(&self, key: &str, name: Option<&str>) -> Result<String>;
    /// The IDs of the pod's containers, the infra container first.
    fn pod_container_ids(&self, key: &str) -> Result<Vec<String>>;
    // networks
    fn network_create(&self, opts: &crate::network::NetworkCreateOptions) -> Result<String>;
    fn network_list(&self, filters: &[String]) -> Result<Vec<Value>>;
    fn network_inspect(&self, key: &str) -> Result<Value>;
    fn network_remove(&self, key: &str, force: bool, timeout: u32) -> Result<String>;
    fn network_prune(&self, filters: &[String]) -> Result<Vec<String>>;
    fn network_exists(&self, key: &str) -> Result<bool>;
    fn network_connect(
        &self,
        network: &str,
        container: &str,
        aliases: &[String],
        ips: &[String],
        mac: Option<&str>,
    ) -> Result<()>;
    fn network_disconnect(&self, network: &str, container: &str) -> Result<()>;
    fn network_reload(&self, container: &str) -> Result<String>;
    // system
    fn info(&self) -> Result<Value>;
}

impl Engine for LocalEngine {
    fn pod_create(&self, opts: &crate::pod::PodCreateOptions) -> Result<String> {
        LocalEngine::pod_create(self, opts)
    }
    fn pod_list(&self) -> Result<Vec<Value>> {
        LocalEngine::pod_list(self)
    }
    fn pod_inspect(&self, key: &str) -> Result<Value> {
        LocalEngine::pod_inspect(self, key)
    }
    fn pod_start(&self, key: &str) -> Result<String> {
        LocalEngine::pod_start(self, key)
    }
    fn pod_stop(&self, key: &str, timeout: Option<u32>) -> Result<String> {
        LocalEngine::pod_stop(self, key, timeout)
    }
    fn pod_kill(&self, key: &str, signal: i32) -> Result<String> {
        LocalEngine::pod_kill(self, key, signal)
    }
    fn pod_pause(&self, key: &str, pause: bool) -> Result<String> {
        LocalEngine::pod_pause(self, key, pause)
    }
    fn pod_remove(&self, key: &str, force: bool, timeout: u32) -> Result<String> {
        LocalEngine::pod_remove(self, key, force, timeout)
    }
    fn pod_prune(&self) -> Result<Vec<String>> {
        LocalEngine::pod_prune(self)
    }
    fn pod_exists(&self, key: &str) -> Result<bool> {
        LocalEngine::pod_exists(self, key)
    }
    fn pod_clone(&self, key: &str, name: Option<&str>) -> Result<String> {
        LocalEngine::pod_clone(self, key, name)
    }
    fn pod_container_ids(&self, key: &str) -> Result<Vec<String>> {
        let pod = LocalEngine::pod(self, key)?;
        Ok(self
            .pod_containers(&pod)?
            .into_iter()
            .map(|c| c.id)
            .collect())
    }
    fn network_create(&self, opts: &crate::network::NetworkCreateOptions) -> Result<String> {
        LocalEngine::network_create(self, opts).map(|n| n.name)
    }
    fn network_list(&self, filters: &[String]) -> Result<Vec<Value>> {
        LocalEngine::network_list(self, filters)
    }
    fn network_inspect(&self, key: &str) -> Result<Value> {
        LocalEngine::network_inspect(self, key)
    }
    fn network_remove(&self, key: &str, force: bool, timeout: u32) -> Result<String> {
        LocalEngine::network_remove(self, key, force, timeout)
    }
    fn network_prune(&self, filters: &[String]) -> Result<Vec<String>> {
        LocalEngine::network_prune(self, filters)
    }
    fn network_exists(&self, key: &str) -> Result<bool> {
        LocalEngine::network_exists(self, key)
    }
    fn network_connect(
        &self,
        network: &str,
        container: &str,
        aliases: &[String],
        ips: &[String],
        mac: Option<&str>,
    ) -> Result<()> {
        LocalEngine::network_connect(self, network, container, aliases, ips, mac)
    }
    fn network_disconnect(&self, network: &str, container: &str) -> Result<()> {
        LocalEngine::network_disconnect(self, network, container)
    }
    fn network_reload(&self, container: &str) -> Result<String> {
        LocalEngine::network_reload(self, container)
    }
    fn volume_create(&self, opts: &crate::volumes::VolumeCreateOptions) -> Result<String> {
        LocalEngine::volume_create(self, opts)
    }
    fn volume_list(&self, filters: &[String]) -> Result<Vec<Value>> {
        LocalEngine::volume_list(self, filters)
    }
    fn volume_inspect(&self, name: &str) -> Result<Value> {
        LocalEngine::volume_inspect(self, name)
    }
    fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        LocalEngine::volume_remove(self, name, force)
    }
    fn volume_prune(&self, filters: &[String]) -> Result<Vec<String>> {
        LocalEngine::volume_prune(self, filters)
    }
    fn volume_exists(&self, name: &str) -> Result<bool> {
        LocalEngine::volume_exists(self, name)
    }
    fn volume_export(&self, name: &str, out: &mut dyn std::io::Write) -> Result<()> {
        LocalEngine::volume_export(self, name, out)
    }
    fn volume_import(&self, name: &str, input: &mut dyn std::io::Read) -> Result<()> {
        LocalEngine::volume_import(self, name, input)
    }
    fn container_sync(&self, key: &str) -> Result<()> {
        LocalEngine::container_sync(self, key)
    }
    fn container_mount(&self, key: &str) -> Result<std::path::PathBuf> {
        LocalEngine::container_mount(self, key)
    }
    fn mounted_containers(&self) -> Result<Vec<(String, std::path::PathBuf)>> {
        LocalEngine::mounted_containers(self)
    }
    fn container_unmount(&self, key: &str) -> Result<String> {
        LocalEngine::container_unmount(self, key)
    }
    fn container_export(&self, key: &str, out: &mut dyn std::io::Write) -> Result<()> {
        LocalEngine::container_export(self, key, out)
    }
    fn container_copy_stat(&self, key: &str, path: &str) -> Result<Option<crate::copy::CopyStat>> {
        LocalEngine::container_copy_stat(self, key, path)
    }
    fn container_copy_out(
        &self,
        key: &str,
        path: &str,
        top: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<()> {
        LocalEngine::container_copy_out(self, key, path, top, out)
    }
    fn container_copy_in(
        &self,
        key: &str,
        dir: &str,
        tar: &mut dyn std::io::Read,
        opts: &crate::copy::CopyInOptions,
    ) -> Result<()> {
        LocalEngine::container_copy_in(self, key, dir, tar, opts)
    }
    fn diff(&self, key: &str, kind: crate::copy::DiffKind) -> Result<Vec<berth_storage::Change>> {
        LocalEngine::diff(self, key, kind)
    }
    fn short_name_choice(
        &self,
        reference: &str,
        tty: bool,
    ) -> Result<Option<(String, Vec<String>)>> {
        LocalEngine::short_name_choice(self, reference, tty)
    }
    fn record_short_name_alias(&self, short_name: &str, repository: &str) -> Result<()> {
        LocalEngine::record_short_name_alias(self, short_name, repository)
    }
    fn manifest_create(
        &self,
        name: &str,
        images: &[String],
        opts: &crate::pull::PullOptions,
    ) -> Result<String> {
        LocalEngine::manifest_create(self, name, images, opts)
    }
    fn manifest_add(
        &self,
        name: &str,
        image: &str,
        entry: &crate::manifest::ManifestEntryOptions,
        opts: &crate::pull::PullOptions,
    ) -> Result<String> {
        LocalEngine::manifest_add(self, name, image, entry, opts)
    }
    fn manifest_inspect(&self, name: &str, opts: &crate::pull::PullOptions) -> Result<Value> {
        LocalEngine::manifest_inspect(self, name, opts)
    }
    fn manifest_annotate(
        &self,
        name: &str,
        digest: &str,
        entry: &crate::manifest::ManifestEntryOptions,
    ) -> Result<String> {
        LocalEngine::manifest_annotate(self, name, digest, entry)
    }
    fn manifest_remove(&self, names: &[String]) -> Result<()> {
        LocalEngine::manifest_remove(self, names)
    }
    fn manifest_exists(&self, name: &str) -> Result<bool> {
        LocalEngine::manifest_exists(self, name)
    }
    fn manifest_push(
        &self,
        name: &str,
        destination: &str,
        all: bool,
        opts: &crate::pull::PullOptions,
        events: &mut dyn FnMut(crate::push::PushEvent),
    ) -> Result<String> {
        LocalEngine::manifest_push(self, name, destination, all, opts, events)
    }
    fn image_search(
        &self,
        term: &str,
        limit: usize,
        list_tags: bool,
        opts: &crate::pull::PullOptions,
    ) -> Result<Vec<crate::search::SearchResult>> {
        self.search(term, limit, list_tags, opts)
    }
    fn login(
        &self,
        registry: &str,
        user: &str,
        password: &str,
        opts: &crate::pull::PullOptions,
    ) -> Result<()> {
        LocalEngine::login(self, registry, user, password, opts)
    }
    fn login_user(&self, registry: &str, opts: &crate::pull::PullOptions) -> Result<String> {
        LocalEngine::login_user(self, registry, opts)
    }
    fn logout(&self, registry: Option<&str>, opts: &crate::pull::PullOptions) -> Result<()> {
        LocalEngine::logout(self, registry, opts)
    }
    fn image_push(
        &self,
        image: &str,
        destination: Option<&str>,
        opts: &crate::pull::PullOptions,
        events: &mut dyn FnMut(crate::push::PushEvent),
    ) -> Result<String> {
        self.push(image, destination, opts, events)
    }
    fn image_pull(
        &self,
        reference: &str,
        opts: &crate::pull::PullOptions,
        events: &mut dyn FnMut(crate::pull::PullEvent),
    ) -> Result<String> {
        self.pull(reference, opts, events)
    }
    fn image_load(&self, path: &Path) -> Result<Vec<String>> {
        self.load(path)
    }
    fn image_import(
        &self,
        path: &Path,
        reference: Option<&str>,
        changes: &[String],
        message: Option<&str>,
    ) -> Result<String> {
        self.import(path, reference, changes, message)
    }
    fn image_list(&self, all: bool) -> Result<Vec<ImageSummary>> {
        self.images(all)
    }
    fn image_inspect(&self, key: &str) -> Result<Value> {
        LocalEngine::image_inspect(self, key)
    }
    fn image_tag(&self, image: &str, names: &[String]) -> Result<()> {
        self.tag(image, names)
    }
    fn image_untag(&self, image: &str, names: &[String]) -> Result<()> {
        self.untag(image, names)
    }
    fn image_remove(&self, keys: &[String], force: bool, all: bool) -> Result<RmiReport> {
        self.rmi(keys, force, all)
    }
    fn image_exists(&self, key: &str) -> Result<bool> {
        LocalEngine::image_exists(self, key)
    }
    fn image_prune(&self, all: bool) -> Result<Vec<String>> {
        LocalEngine::image_prune(self, all)
    }
    fn image_build(
        &self,
        opts: &crate::build::BuildOptions,
        out: &mut dyn std::io::Write,
    ) -> Result<String> {
        self.build(opts, out)
    }
    fn image_mount(&self, key: &str) -> Result<(String, std::path::PathBuf)> {
        LocalEngine::image_mount(self, key)
    }
    fn mounted_images(&self) -> Result<Vec<crate::image_mount::ImageMount>> {
        LocalEngine::mounted_images(self)
    }
    fn image_unmount(&self, key: &str, force: bool) -> Result<Option<String>> {
        LocalEngine::image_unmount(self, key, force)
    }
    fn container_commit(
        &self,
        key: &str,
        reference: Option<&str>,
        opts: &crate::commit::CommitOptions,
        events: &mut dyn FnMut(crate::commit::CommitEvent<'_>),
    ) -> Result<String> {
        LocalEngine::container_commit(self, key, reference, opts, events)
    }
    fn image_save(
        &self,
        names: &[String],
        opts: &crate::save::SaveOptions,
        dest: crate::save::SaveDest<'_>,
        events: &mut dyn FnMut(berth_image::SaveEvent<'_>),
    ) -> Result<()> {
        self.save(names, opts, dest, events)
    }
    fn image_history(&self, key: &str) -> Result<Vec<crate::save::HistoryEntry>> {
        self.history(key)
    }
    fn container_create(&self, opts: &CreateOptions) -> Result<String> {
        LocalEngine::container_create(self, opts)
    }
    fn container_init(&self, key: &str) -> Result<String> {
        LocalEngine::container_init(self, key)
    }
    fn container_start(&self, key: &str, attach: bool) -> Result<(String, Option<UnixStream>)> {
        LocalEngine::container_start(self, key, attach)
    }
    fn container_attach(&self, key: &str) -> Result<(String, UnixStream)> {
        self.attach(key)
    }
    fn container_stop(&self, key: &str, timeout: Option<u32>) -> Result<String> {
        LocalEngine::container_stop(self, key, timeout)
    }
    fn container_kill(&self, key: &str, signal: i32) -> Result<String> {
        LocalEngine::container_kill(self, key, signal)
    }
    fn container_update(
        &self,
        key: &str,
        flags: &crate::resources::ResourceFlags,
    ) -> Result<String> {
        LocalEngine::container_update(self, key, flags)
    }
    fn container_remove(&self, key: &str, force: bool, timeout: u32, volumes: bool) -> Result<()> {
        self.container_rm(key, force, timeout, volumes)
    }
    fn container_dependencies(&self) -> Result<Vec<(String, String)>> {
        LocalEngine::container_dependencies(self)
    }
    fn container_list(&self, opts: &PsOptions) -> Result<Vec<PsEntry>> {
        self.ps(opts)
    }
    fn container_inspect(&self, key: &str) -> Result<Value> {
        LocalEngine::container_inspect(self, key)
    }
    fn container_logs(
        &self,
        key: &str,
        opts: &LogOptions,
        out: &mut dyn FnMut(&LogLine) -> std::io::Result<()>,
    ) -> Result<()> {
        LocalEngine::container_logs(self, key, opts, out)
    }
    fn container_wait(&self, key: &str, conditions: &[String], interval: Duration) -> Result<i32> {
        LocalEngine::container_wait(self, key, conditions, interval)
    }
    fn container_exec(&self, key: &str, opts: &ExecOptions) -> Result<i32> {
        LocalEngine::container_exec(self, key, opts)
    }
    fn container_top(&self, key: &str, descriptors: &[String]) -> Result<Vec<String>> {
        LocalEngine::container_top(self, key, descriptors)
    }
    fn container_stats(
        &self,
        key: &str,
        prev: Option<&crate::stats::ContainerStats>,
    ) -> Result<crate::stats::ContainerStats> {
        LocalEngine::container_stats(self, key, prev)
    }
    fn container_rename(&self, key: &str, new_name: &str) -> Result<()> {
        LocalEngine::container_rename(self, key, new_name)
    }
    fn container_pause(&self, key: &str, pause: bool) -> Result<String> {
        LocalEngine::container_pause(self, key, pause)
    }
    fn container_exists(&self, key: &str) -> Result<bool> {
        LocalEngine::container_exists(self, key)
    }
    fn container_prune(&self) -> Result<Vec<String>> {
        LocalEngine::container_prune(self)
    }
    fn container_cleanup(&self, key: &str) -> Result<()> {
        LocalEngine::container_cleanup(self, key)
    }
    fn container_lookup(&self, key: &str) -> Result<String> {
        self.lookup_container(key)
    }
    fn container_ids(&self) -> Result<Vec<String>> {
        self.all_container_ids()
    }
    fn container_latest(&self) -> Result<String> {
        self.latest_container()
    }
    fn container_pid(&self, key: &str) -> Result<i32> {
        Ok(self.record(&self.lookup_container(key)?)?.pid)
    }
    fn info(&self) -> Result<Value> {
        self.system_info()
    }
}

impl LocalEngine {
    /// `attach`: connects to a running container's monitor.
    pub fn attach(&self, key: &str) -> Result<(String, UnixStream)> {
        let id = self.lookup_container(key)?;
        let rec = self.record(&id)?;
        let (st, _, _) = self.live_state(&rec);
        if st != crate::types::state::RUNNING {
            return Err(crate::Error::InvalidState(
                id,
                crate::containers::display_state(&st).into(),
                "you can only attach to running containers: container state improper",
            ));
        }
        let s = berth_oci::monitor::connect_attach(&self.rundir(&id))
            .map_err(|e| crate::Error::Io(format!("attaching to container {id}"), e))?;
        Ok((id, s))
    }

    /// `info`, in Podman's shape (the parts berth knows so far).
    pub fn system_info(&self) -> Result<Value> {
        let cg = berth_oci::runtime::CgroupMode::detect();
        let rt = self.runtime()?;
        let ctrs = self.db().containers()?;
        let count = |s: &str| ctrs.iter().filter(|c| self.live_state(c).0 == s).count();
        let running = count("running");
        let paused = count("paused");
        let images = self.db().images()?.len();
        let uname = nix::sys::utsname::uname().ok();
        let kernel = uname
            .as_ref()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        let hostname = uname
            .as_ref()
            .map(|u| u.nodename().to_string_lossy().into_owned())
            .unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem = |k: &str| -> u64 {
            meminfo
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
                * 1024
        };
        Ok(json!({
            "host": {
                "arch": berth_oci::seccomp::go_arch(),
                "buildahVersion": "",
                "cgroupManager": self.cfg.cgroup_manager,
                "cgroupVersion": cg.version(),
                "conmon": {"package": "berth", "path": self.cfg.exe, "version": format!("berth monitor {}", env!("CARGO_PKG_VERSION"))},
                "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
                "hostname": hostname,
                "kernel": kernel,
                "memFree": mem("MemAvailable:"),
                "memTotal": mem("MemTotal:"),
                "networkBackend": "netavark",
                "ociRuntime": {"name": rt.name, "package": "", "path": rt.path, "version": rt.version()},
                "os": "linux",
                "rootless": nix::unistd::geteuid().as_raw() != 0,
            },
            "store": {
                "containerStore": {"number": ctrs.len(), "paused": paused, "running": running, "stopped": ctrs.len() - running - paused},
                "graphDriverName": self.cfg.storage_driver,
                "graphRoot": self.cfg.root,
                "imageStore": {"number": images},
                "runRoot": self.cfg.runroot,
                "volumePath": self.cfg.root.join("volumes"),
            },
            "version": version_json(),
        }))
    }
}

/// `version`'s data.
pub fn version_json() -> Value {
    json!({
        "APIVersion": "4.3.1",
        "Version": env!("CARGO_PKG_VERSION"),
        "GoVersion": "",
        "GitCommit": "",
        "BuiltTime": "",
        "Built": 0,
        "OsArch": format!("linux/{}", berth_oci::seccomp::go_arch()),
        "Os": "linux",
    })
}
