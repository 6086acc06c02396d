// `xgrad serve`: a local HTTP server (cpp-httplib) for exploring a checkpoint
// in the browser. GET / is the page (train/serve/page.html, built into the
// program); the JSON API it calls is answered by explorer.hpp:
//   GET  /api/model      the config, the model type, the vocabulary, the parameter count
//   POST /api/attention  {"text", "ablate": [[layer, head], ...]}: every head's weights, the next characters, the loss
//   GET  /api/heads      `xgrad heads --json` on the checkpoint's own corpus; POST {"text"}: on that text
//   POST /api/sample     {"prompt", "tokens", "temperature", "top_k", "seed", "stream"}: {"text"}, or the text
//                        itself as it is generated (chunked text/plain) with "stream": true
// A bad request gets a 4xx and {"error": "..."}, one sentence. Called by the
// command line (train/cli/main.cpp); tested by tests/serve/.
#pragma once

#include <iosfwd>
#include <string>

namespace xgrad::serve {

struct ServeOptions {
    std::string checkpoint;
    std::string host = "127.0.0.1";
    int port = 8000;  // 0: a free port, printed
};

// Prints "serving CK on http://HOST:PORT/" once it accepts connections and
// serves until SIGINT or SIGTERM; then returns 0 within a second.
int run_serve(const ServeOptions& options, std::ostream& out);

}  // namespace xgrad::serve
