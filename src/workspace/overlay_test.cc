#include "workspace/overlay.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testing/testing.h"
#include "util/fs.h"

namespace slipway {
namespace {

using slipway::testing::FileExists;
using slipway::testing::ReadTextFile;
using slipway::testing::Sh;
using slipway::testing::TempDir;
using slipway::testing::WriteTextFile;

class OverlayTest : public ::testing::Test {
 protected:
  OverlayTest() : settings_(tmp_.Sub("settings")), code_(tmp_.Sub("code")), outside_(tmp_.Sub("outside")) {
    EXPECT_TRUE(MakeDirs(settings_).ok());
    EXPECT_TRUE(MakeDirs(code_).ok());
    EXPECT_TRUE(MakeDirs(outside_).ok());
  }

  void Settings(const std::string& rel, const std::string& content, int mode = 0644) {
    EXPECT_TRUE(MakeDirs(DirName(JoinPath(settings_, rel))).ok());
    WriteTextFile(JoinPath(settings_, rel), content, mode);
    ::chmod(JoinPath(settings_, rel).c_str(), static_cast<mode_t>(mode));
  }
  void Code(const std::string& rel, const std::string& content) {
    EXPECT_TRUE(MakeDirs(DirName(JoinPath(code_, rel))).ok());
    WriteTextFile(JoinPath(code_, rel), content);
  }
  static void Link(const std::string& target, const std::string& at) {
    EXPECT_TRUE(MakeDirs(DirName(at)).ok());
    ASSERT_EQ(::symlink(target.c_str(), at.c_str()), 0) << at;
  }
  static std::string LinkTarget(const std::string& path) {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
    return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
  }
  static int ModeOf(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777) : -1;
  }
  // Every path under dir with its type, for "nothing changed" checks.
  static std::string Listing(const std::string& dir) {
    return Sh("find . -printf '%p %y %m %l\\n' | sort; find . -type f -exec md5sum {} + | sort", dir).out;
  }

  Status Overlay() { return OverlaySettings(settings_, code_); }

  TempDir tmp_;
  std::string settings_;
  std::string code_;
  std::string outside_;
};

TEST_F(OverlayTest, CopiesFilesFoldersModesAndDotfiles) {
  Settings("deploy.yaml", "code: { ref: v1 }\n");
  Settings("bin/run.sh", "#!/bin/sh\necho hi\n", 0755);
  Settings("secret.txt", "s", 0600);
  Settings(".env", "A=1\n");
  Settings(".config/tool.yaml", "x: 1\n");
  Settings("conf/app.yaml", "new\n");
  Code("conf/app.yaml", "old\n");
  Code("conf/keep.yaml", "kept\n");
  Code("Makefile", "all:\n");

  ASSERT_TRUE(Overlay().ok());
  EXPECT_EQ(ReadTextFile(code_ + "/deploy.yaml"), "code: { ref: v1 }\n");
  EXPECT_EQ(ReadTextFile(code_ + "/bin/run.sh"), "#!/bin/sh\necho hi\n");
  EXPECT_EQ(ModeOf(code_ + "/bin/run.sh"), 0755);
  EXPECT_EQ(ModeOf(code_ + "/secret.txt"), 0600);
  EXPECT_EQ(ModeOf(code_ + "/deploy.yaml"), 0644);
  EXPECT_EQ(ReadTextFile(code_ + "/.env"), "A=1\n");  // the article's `cp -rf settings/*` skipped these
  EXPECT_EQ(ReadTextFile(code_ + "/.config/tool.yaml"), "x: 1\n");
  EXPECT_EQ(ReadTextFile(code_ + "/conf/app.yaml"), "new\n");
  EXPECT_EQ(ReadTextFile(code_ + "/conf/keep.yaml"), "kept\n");  // folders merge
  EXPECT_EQ(ReadTextFile(code_ + "/Makefile"), "all:\n");
}

TEST_F(OverlayTest, SetIdBitsAreDropped) {
  Settings("tool", "x", 0755);
  ASSERT_EQ(::chmod((settings_ + "/tool").c_str(), 04755), 0);
  ASSERT_TRUE(Overlay().ok());
  EXPECT_EQ(ModeOf(code_ + "/tool"), 0755);
}

TEST_F(OverlayTest, SkipsGitEntries) {
  Settings(".git/config", "[core]\n");
  Settings("sub/.git", "gitdir: elsewhere\n");
  Settings("sub/file", "f");
  Settings(".gitignore", "*.tmp\n");
  ASSERT_TRUE(Overlay().ok());
  EXPECT_FALSE(FileExists(code_ + "/.git"));
  EXPECT_FALSE(FileExists(code_ + "/sub/.git"));
  EXPECT_TRUE(FileExists(code_ + "/sub/file"));
  EXPECT_TRUE(FileExists(code_ + "/.gitignore"));
}

TEST_F(OverlayTest, FileReplacesFolderAndFolderReplacesFile) {
  Settings("was_dir", "now a file\n");
  Code("was_dir/inner/x", "x");
  Settings("was_file/inner.txt", "now a folder\n");
  Code("was_file", "a file\n");
  ASSERT_TRUE(Overlay().ok());
  EXPECT_EQ(ReadTextFile(code_ + "/was_dir"), "now a file\n");
  EXPECT_EQ(ReadTextFile(code_ + "/was_file/inner.txt"), "now a folder\n");
}

TEST_F(OverlayTest, ReadOnlySettingsFolderIsCopiedWithItsMode) {
  Settings("ro/file", "f");
  ASSERT_EQ(::chmod((settings_ + "/ro").c_str(), 0555), 0);
  ASSERT_TRUE(Overlay().ok());
  EXPECT_EQ(ReadTextFile(code_ + "/ro/file"), "f");
  EXPECT_EQ(ModeOf(code_ + "/ro"), 0755);  // the owner keeps write access: the pipeline cleans up
}

TEST_F(OverlayTest, KeepsLinksThatStayInside) {
  Settings("conf/real.yaml", "r");
  Link("real.yaml", settings_ + "/conf/current.yaml");
  Link("../conf/real.yaml", settings_ + "/other/up.yaml");
  Link("src/main.c", settings_ + "/into-code");      // into the code, not the settings
  Link("./missing/later", settings_ + "/dangling");  // dangling but inside
  Code("src/main.c", "int main;");
  ASSERT_TRUE(Overlay().ok());
  EXPECT_EQ(LinkTarget(code_ + "/conf/current.yaml"), "real.yaml");
  EXPECT_EQ(ReadTextFile(code_ + "/conf/current.yaml"), "r");
  EXPECT_EQ(LinkTarget(code_ + "/other/up.yaml"), "../conf/real.yaml");
  EXPECT_EQ(ReadTextFile(code_ + "/into-code"), "int main;");
  EXPECT_EQ(LinkTarget(code_ + "/dangling"), "./missing/later");
}

TEST_F(OverlayTest, RefusesLinksThatEscapeAndWritesNothing) {
  Settings("environments/prod/deploy.yaml", "code: { ref: v1 }\n");
  // Two folders down, ../../etc/passwd is still inside (the workspace's own
  // etc/passwd); one more ../ is not.
  Link("../../etc/passwd", settings_ + "/environments/prod/inside");
  Link("../../../etc/passwd", settings_ + "/environments/prod/evil");
  Code("Makefile", "all:\n");
  std::string before = Listing(code_);
  Status s = Overlay();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "settings link 'environments/prod/evil' points outside the workspace ('../../../etc/passwd')");
  EXPECT_EQ(Listing(code_), before);
}

TEST_F(OverlayTest, RefusesEscapingLinkNamingItRelativeToTheRepository) {
  Settings("environments/prod/deploy.yaml", "code: { ref: v1 }\n");
  Link("../../etc/passwd", settings_ + "/environments/prod/evil");
  Code("Makefile", "all:\n");
  std::string before = Listing(code_);
  Status s = OverlaySettingsFolder(settings_, "environments/prod", code_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "settings link 'environments/prod/evil' points outside the workspace ('../../etc/passwd')");
  EXPECT_EQ(Listing(code_), before);
  EXPECT_FALSE(FileExists(code_ + "/deploy.yaml"));
}

TEST_F(OverlayTest, RefusesAbsoluteLinks) {
  Link("/etc/passwd", settings_ + "/passwd");
  Status s = Overlay();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "settings link 'passwd' points outside the workspace ('/etc/passwd'): absolute links are refused");
  EXPECT_FALSE(FileExists(code_ + "/passwd"));
}

TEST_F(OverlayTest, RefusesEscapeThroughALinkOfTheCode) {
  ASSERT_EQ(::symlink("..", (code_ + "/up").c_str()), 0);  // the code's own business
  Link("up/outside/secret", settings_ + "/x");
  Status s = Overlay();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "settings link 'x' points outside the workspace ('up/outside/secret') through the link 'up' ('..')");
}

TEST_F(OverlayTest, RefusesEscapeThroughLinksToLinksOfTheSettings) {
  Link("b", settings_ + "/a");
  Link("c/../d", settings_ + "/b");
  Link("sub/../..", settings_ + "/d");
  Settings("c/file", "c");
  Status s = Overlay();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "settings link 'a' points outside the workspace ('b') through the link 'd' ('sub/../..')\n"
            "settings link 'b' points outside the workspace ('c/../d') through the link 'd' ('sub/../..')\n"
            "settings link 'd' points outside the workspace ('sub/../..')");
}

TEST_F(OverlayTest, RefusesLinkLoops) {
  Link("b", settings_ + "/a");
  Link("a", settings_ + "/b");
  Status s = Overlay();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("settings link 'a' points outside the workspace ('b'): too many levels of symbolic links"),
            std::string::npos)
      << s.message();
}

TEST_F(OverlayTest, NeverWritesThroughALinkOfTheCode) {
  // A code repository with `config -> /etc` (here: a folder outside).
  ASSERT_EQ(::symlink(outside_.c_str(), (code_ + "/config").c_str()), 0);
  Settings("config/x", "pwned\n");
  Settings("ok.txt", "fine\n");
  Status s = Overlay();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "the code checkout has a symbolic link at 'config' ('" + outside_ +
                             "'); refusing to write the settings folder 'config' through it");
  EXPECT_FALSE(FileExists(outside_ + "/x"));
  EXPECT_FALSE(FileExists(code_ + "/ok.txt")) << "validation happens before any write";
}

TEST_F(OverlayTest, NeverWritesThroughARelativeLinkOfTheCodeEither) {
  Code("real/keep", "k");
  ASSERT_EQ(::symlink("real", (code_ + "/config").c_str()), 0);
  Settings("config/x", "x\n");
  EXPECT_FALSE(Overlay().ok());
  EXPECT_FALSE(FileExists(code_ + "/real/x"));
}

TEST_F(OverlayTest, ReplacesALinkOfTheCodeByAFileWithoutFollowingIt) {
  WriteTextFile(outside_ + "/target", "untouched\n");
  ASSERT_EQ(::symlink((outside_ + "/target").c_str(), (code_ + "/settings.yaml").c_str()), 0);
  Settings("settings.yaml", "mine\n");
  ASSERT_TRUE(Overlay().ok());
  EXPECT_EQ(ReadTextFile(outside_ + "/target"), "untouched\n");
  EXPECT_EQ(LinkTarget(code_ + "/settings.yaml"), "");
  EXPECT_EQ(ReadTextFile(code_ + "/settings.yaml"), "mine\n");
}

TEST_F(OverlayTest, DoesNotWriteThroughAHardLinkOfTheCode) {
  WriteTextFile(outside_ + "/shared", "untouched\n");
  ASSERT_EQ(::link((outside_ + "/shared").c_str(), (code_ + "/shared").c_str()), 0);
  Settings("shared", "mine\n");
  ASSERT_TRUE(Overlay().ok());
  EXPECT_EQ(ReadTextFile(outside_ + "/shared"), "untouched\n");
  EXPECT_EQ(ReadTextFile(code_ + "/shared"), "mine\n");
}

TEST_F(OverlayTest, RefusesSpecialFiles) {
  ASSERT_EQ(::mkfifo((settings_ + "/pipe").c_str(), 0644), 0);
  Status s = Overlay();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "settings entry 'pipe' is a fifo; only files, folders and symbolic links are copied");
}

TEST_F(OverlayTest, ReportsEveryProblemAtOnce) {
  Link("/abs", settings_ + "/one");
  Link("../out", settings_ + "/two");
  Status s = Overlay();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "settings link 'one' points outside the workspace ('/abs'): absolute links are refused\n"
            "settings link 'two' points outside the workspace ('../out')");
}

TEST_F(OverlayTest, SettingsFolderMustNotBeALink) {
  Link(settings_, tmp_.Sub("settings-link"));
  Status s = OverlaySettings(tmp_.Sub("settings-link"), code_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("is a symbolic link"), std::string::npos);

  Settings("real/prod/deploy.yaml", "x");
  Link("real", settings_ + "/environments");
  s = OverlaySettingsFolder(settings_, "environments/prod", code_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(
      s.message(),
      "'environments' is a symbolic link in the settings repository; the settings path must not go through links");
  EXPECT_FALSE(FileExists(code_ + "/deploy.yaml"));
}

TEST_F(OverlayTest, MissingSettingsFolderIsNotFound) {
  Status s = OverlaySettingsFolder(settings_, "environments/nope", code_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "open '" + settings_ + "/environments': No such file or directory");
}

TEST_F(OverlayTest, FolderOfTheRepository) {
  Settings("environments/prod/deploy.yaml", "prod\n");
  Settings("environments/dev/deploy.yaml", "dev\n");
  ASSERT_TRUE(OverlaySettingsFolder(settings_, "environments/prod/", code_).ok());
  EXPECT_EQ(ReadTextFile(code_ + "/deploy.yaml"), "prod\n");
  EXPECT_FALSE(FileExists(code_ + "/environments"));
}

}  // namespace
}  // namespace slipway
