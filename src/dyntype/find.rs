//! Where an installed message package lives, as `ros2 topic echo` finds it: the first entry of
//! `AMENT_PREFIX_PATH` whose ament index lists the package holds its `.msg` files
//! (`share/<pkg>/msg/`) and its type support library (`lib/lib<pkg>__rosidl_typesupport_c.so`).

use std::path::{Path, PathBuf};

use super::msg::TypeName;

/// A type or package that the environment does not have, or cannot load.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error(
        "message type {ty} is not installed: no package `{package}` in {} (AMENT_PREFIX_PATH{}); \
         source the workspace that builds it before starting the bridge",
        list(searched),
        if searched.is_empty() { " is empty" } else { "" }
    )]
    NoPackage {
        ty: String,
        package: String,
        searched: Vec<PathBuf>,
    },
    #[error("message type {ty} is not installed: package `{package}` in {} has no {}", prefix.display(), file.display())]
    NoMessage {
        ty: String,
        package: String,
        prefix: PathBuf,
        file: PathBuf,
    },
    #[error("cannot read {}: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is not in LD_LIBRARY_PATH: the type support of `{package}` cannot be loaded \
         (its libraries find each other only through it; source the workspace's setup file \
         before starting the bridge)",
        lib.display()
    )]
    NotInLibraryPath { package: String, lib: PathBuf },
    #[error("message type {ty} cannot be used: {} is missing (the package has no C type support)", lib.display())]
    NoLibrary { ty: String, lib: PathBuf },
}

fn list(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "no prefix".into();
    }
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

/// The install prefixes to search, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefixes(pub Vec<PathBuf>);

impl Prefixes {
    /// `AMENT_PREFIX_PATH`, as a sourced ROS environment sets it.
    pub fn from_env() -> Prefixes {
        let var = std::env::var_os("AMENT_PREFIX_PATH").unwrap_or_default();
        Prefixes(
            std::env::split_paths(&var)
                .filter(|p| !p.as_os_str().is_empty())
                .collect(),
        )
    }

    /// The prefix that holds `package`.
    pub fn package(&self, ty: &TypeName) -> Result<&Path, FindError> {
        let marker = Path::new("share/ament_index/resource_index/packages").join(&ty.package);
        self.0
            .iter()
            .find(|p| p.join(&marker).is_file())
            .map(PathBuf::as_path)
            .ok_or_else(|| FindError::NoPackage {
                ty: ty.to_string(),
                package: ty.package.clone(),
                searched: self.0.clone(),
            })
    }

    /// The text of the type's `.msg` file.
    pub fn msg_text(&self, ty: &TypeName) -> Result<String, FindError> {
        let prefix = self.package(ty)?;
        let file = Path::new("share")
            .join(&ty.package)
            .join("msg")
            .join(format!("{}.msg", ty.name));
        let path = prefix.join(&file);
        std::fs::read_to_string(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => FindError::NoMessage {
                ty: ty.to_string(),
                package: ty.package.clone(),
                prefix: prefix.to_owned(),
                file,
            },
            _ => FindError::Read { file: path, source },
        })
    }

    /// The C type support library of the type's package. Its own dependencies and the Fast DDS
    /// type support that rmw loads from it are found only through `LD_LIBRARY_PATH`, which the
    /// dynamic loader reads once at process start: a prefix missing there fails late and with a
    /// misleading rcl error, so it is refused here, with its cause.
    pub fn typesupport_library(&self, ty: &TypeName) -> Result<PathBuf, FindError> {
        let lib = self.package(ty)?.join("lib");
        let in_path = std::env::var_os("LD_LIBRARY_PATH")
            .map(|v| std::env::split_paths(&v).any(|p| same_dir(&p, &lib)))
            .unwrap_or(false);
        if !in_path {
            return Err(FindError::NotInLibraryPath {
                package: ty.package.clone(),
                lib,
            });
        }
        let file = lib.join(format!("lib{}__rosidl_typesupport_c.so", ty.package));
        if !file.is_file() {
            return Err(FindError::NoLibrary {
                ty: ty.to_string(),
                lib: file,
            });
        }
        Ok(file)
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_prefix(root: &Path, pkg: &str, msgs: &[(&str, &str)]) -> PathBuf {
        let p = root.join(format!("prefix_{pkg}"));
        let index = p.join("share/ament_index/resource_index/packages");
        std::fs::create_dir_all(&index).expect("mkdir");
        std::fs::write(index.join(pkg), "").expect("marker");
        std::fs::create_dir_all(p.join("share").join(pkg).join("msg")).expect("mkdir");
        for (name, text) in msgs {
            let file = p
                .join("share")
                .join(pkg)
                .join("msg")
                .join(format!("{name}.msg"));
            std::fs::write(file, text).expect("msg");
        }
        p
    }

    #[test]
    fn first_prefix_with_the_package_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = fake_prefix(dir.path(), "a_msgs", &[("X", "int32 first")]);
        let b = fake_prefix(dir.path(), "b_msgs", &[("X", "int32 b")]);
        let later = tempfile::tempdir().expect("tempdir");
        let shadowed = fake_prefix(later.path(), "a_msgs", &[("X", "int32 second")]);
        let prefixes = Prefixes(vec![b.clone(), a.clone(), shadowed]);
        let ty = TypeName::parse("a_msgs/msg/X").expect("valid");
        assert_eq!(prefixes.package(&ty).expect("found"), a.as_path());
        assert_eq!(prefixes.msg_text(&ty).expect("read"), "int32 first");
    }

    #[test]
    fn errors_name_the_type_and_every_prefix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = fake_prefix(dir.path(), "a_msgs", &[]);
        let other = dir.path().join("nowhere");
        let prefixes = Prefixes(vec![a.clone(), other.clone()]);
        let e = prefixes
            .msg_text(&TypeName::parse("my_msgs/msg/Dock").expect("valid"))
            .expect_err("not installed")
            .to_string();
        assert!(
            e.contains("my_msgs/msg/Dock") && e.contains("`my_msgs`"),
            "{e}"
        );
        assert!(
            e.contains(&a.display().to_string()) && e.contains(&other.display().to_string()),
            "{e}"
        );
        let e = prefixes
            .msg_text(&TypeName::parse("a_msgs/msg/Nope").expect("valid"))
            .expect_err("no such message")
            .to_string();
        assert!(
            e.contains("a_msgs/msg/Nope") && e.contains("Nope.msg"),
            "{e}"
        );
        let e = Prefixes(Vec::new())
            .msg_text(&TypeName::parse("a_msgs/X").expect("valid"))
            .expect_err("nothing")
            .to_string();
        assert!(e.contains("AMENT_PREFIX_PATH is empty"), "{e}");
    }

    #[test]
    fn a_prefix_missing_from_the_library_path_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = fake_prefix(dir.path(), "a_msgs", &[]);
        let e = Prefixes(vec![a.clone()])
            .typesupport_library(&TypeName::parse("a_msgs/X").expect("valid"))
            .expect_err("not in LD_LIBRARY_PATH")
            .to_string();
        assert!(
            e.contains(&a.join("lib").display().to_string()) && e.contains("LD_LIBRARY_PATH"),
            "{e}"
        );
    }
}
