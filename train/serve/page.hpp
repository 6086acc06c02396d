// The explorer's page: train/serve/page.html, turned into a C++ string at
// build time (CMakeLists.txt, from page.cpp.in), so the HTML stays a file a
// learner can edit and the program needs nothing beside it.
#pragma once

namespace xgrad::serve {

const char* explorer_page();

}  // namespace xgrad::serve
