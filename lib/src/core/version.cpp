#include "wsss/core/version.hpp"

#include <opencv2/core/version.hpp>

namespace wsss::version_info {
const char* project();
const char* git_describe();
}  // namespace wsss::version_info

namespace wsss {

std::string project_version() { return version_info::project(); }
std::string git_describe() { return version_info::git_describe(); }

std::string version_report(const std::string& program) {
  return program + " (wsss) " + project_version() + "\n" +
         "git: " + git_describe() + "\n" +
         "LibTorch: " + WSSS_TORCH_VERSION + "\n" +
         "OpenCV: " + CV_VERSION + "\n";
}

}  // namespace wsss
