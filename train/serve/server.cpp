// `xgrad serve` (server.hpp): the routes, the checks of each request's JSON,
// the errors, and a clean stop on SIGINT or SIGTERM.
#include "train/serve/server.hpp"

#include "autograd/error.hpp"
#include "train/serve/explorer.hpp"
#include "train/serve/page.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <future>
#include <iostream>
#include <thread>

namespace xgrad::serve {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxBody = 1 << 20;  // 1 MiB: larger bodies get 413
// With a charset, not the bare "application/json": httplib (Debian's, built
// with brotli) compresses bare application/json for any client that accepts
// br, which took 3 s for the 1.8 MB attention answer at the lecture size.
constexpr const char* kJson = "application/json; charset=utf-8";
constexpr const char* kRoutes =
    "GET /, GET /api/model, POST /api/attention, GET or POST /api/heads, POST /api/sample";

void send_error(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(json{{"error", message}}.dump() + "\n", kJson);
}

// Runs a route's work; a BadRequest becomes its 4xx, anything else a 500, each as {"error": ...}.
template <class Work>
void answer(httplib::Response& res, Work work) {
    try {
        work();
    } catch (const BadRequest& e) {
        send_error(res, e.status, e.what());
    } catch (const std::exception& e) {
        send_error(res, 500, std::string("the server failed: ") + e.what());
    }
}

// --- the request's JSON -------------------------------------------------------

json object_body(const httplib::Request& req) {
    const json j = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw BadRequest(400, "the request body is not JSON");
    if (!j.is_object()) throw BadRequest(400, "the request body must be a JSON object, like {\"text\": \"...\"}");
    return j;
}

std::string string_field(const json& j, const char* name, bool required, const std::string& fallback = "") {
    if (!j.contains(name)) {
        if (required) throw BadRequest(400, std::string("the field \"") + name + "\" is missing");
        return fallback;
    }
    if (!j[name].is_string()) throw BadRequest(400, std::string("the field \"") + name + "\" must be a string");
    return j[name].get<std::string>();
}

std::size_t count_field(const json& j, const char* name, std::size_t fallback) {
    if (!j.contains(name)) return fallback;
    if (!j[name].is_number_unsigned()) {
        throw BadRequest(400, std::string("the field \"") + name + "\" must be a non-negative integer");
    }
    return j[name].get<std::size_t>();
}

double number_field(const json& j, const char* name, double fallback) {
    if (!j.contains(name)) return fallback;
    if (!j[name].is_number()) throw BadRequest(400, std::string("the field \"") + name + "\" must be a number");
    return j[name].get<double>();
}

std::vector<std::pair<std::size_t, std::size_t>> ablate_field(const json& j) {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    if (!j.contains("ablate")) return out;
    const json& a = j["ablate"];
    const std::string form = "the field \"ablate\" must be a list of [layer, head] pairs of non-negative integers";
    if (!a.is_array()) throw BadRequest(400, form);
    for (const json& pair : a) {
        if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_unsigned() || !pair[1].is_number_unsigned()) {
            throw BadRequest(400, form);
        }
        out.emplace_back(pair[0].get<std::size_t>(), pair[1].get<std::size_t>());
    }
    return out;
}

SampleRequest sample_request(const json& j) {
    SampleRequest r;
    r.prompt = string_field(j, "prompt", false);
    r.tokens = count_field(j, "tokens", r.tokens);
    r.sampling.temperature = number_field(j, "temperature", r.sampling.temperature);
    r.sampling.top_k = count_field(j, "top_k", r.sampling.top_k);
    r.seed = count_field(j, "seed", r.seed);
    return r;
}

// --- the routes ---------------------------------------------------------------

void post_sample(const Explorer& explorer, const httplib::Request& req, httplib::Response& res,
                 const std::atomic<bool>& stopping) {
    const json j = object_body(req);
    const SampleRequest r = sample_request(j);
    if (j.contains("stream") && !j["stream"].is_boolean()) throw BadRequest(400, "the field \"stream\" must be true or false");
    explorer.check_sampling(r);
    if (!r.prompt.empty()) explorer.encode_checked(r.prompt, "prompt");  // refused here, before any text is sent
    if (!j.value("stream", false)) {
        std::string text;
        explorer.sample(r, 0, [&](const std::string& piece) {
            text += piece;
            return true;
        });
        res.set_content(json{{"text", text}}.dump() + "\n", kJson);
        return;
    }
    // Streamed: pieces of 8 tokens, each written as soon as it is generated.
    res.set_chunked_content_provider("text/plain; charset=utf-8", [&explorer, r, &stopping](std::size_t, httplib::DataSink& sink) {
        explorer.sample(r, 8, [&](const std::string& piece) { return !stopping && sink.write(piece.data(), piece.size()); });
        sink.done();
        return true;
    });
}

// Known paths and the methods each takes; any other method gets 405.
void refuse_other_methods(httplib::Server& server, const std::string& path, const std::string& allowed) {
    auto refuse = [path, allowed](const httplib::Request& req, httplib::Response& res) {
        res.set_header("Allow", allowed);
        send_error(res, 405, req.method + " " + path + " is not allowed; use " + allowed);
    };
    if (allowed.find("GET") == std::string::npos) server.Get(path, refuse);
    if (allowed.find("POST") == std::string::npos) server.Post(path, refuse);
    server.Put(path, refuse);
    server.Patch(path, refuse);
    server.Delete(path, refuse);
    server.Options(path, refuse);
}

void add_routes(httplib::Server& server, const Explorer& explorer, const std::atomic<bool>& stopping) {
    server.Get("/", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(explorer_page(), "text/html; charset=utf-8");
    });
    server.Get("/api/model", [&](const httplib::Request&, httplib::Response& res) {
        answer(res, [&] { res.set_content(explorer.model_json().dump() + "\n", kJson); });
    });
    server.Post("/api/attention", [&](const httplib::Request& req, httplib::Response& res) {
        answer(res, [&] {
            const json j = object_body(req);
            const AttentionRequest r{string_field(j, "text", true), ablate_field(j)};
            res.set_content(explorer.attention_json(r).dump() + "\n", kJson);
        });
    });
    server.Get("/api/heads", [&](const httplib::Request&, httplib::Response& res) {
        answer(res, [&] { res.set_content(explorer.corpus_heads_json().dump() + "\n", kJson); });
    });
    server.Post("/api/heads", [&](const httplib::Request& req, httplib::Response& res) {
        answer(res, [&] {
            res.set_content(explorer.text_heads_json(string_field(object_body(req), "text", true)).dump() + "\n", kJson);
        });
    });
    server.Post("/api/sample", [&](const httplib::Request& req, httplib::Response& res) {
        answer(res, [&] { post_sample(explorer, req, res, stopping); });
    });
    refuse_other_methods(server, "/", "GET");
    refuse_other_methods(server, "/api/model", "GET");
    refuse_other_methods(server, "/api/attention", "POST");
    refuse_other_methods(server, "/api/heads", "GET, POST");
    refuse_other_methods(server, "/api/sample", "POST");
}

// What httplib answers itself (no route, a body over the limit, bad HTTP) gets a JSON body too.
void add_error_bodies(httplib::Server& server) {
    const httplib::Server::HandlerWithResponse fill = [](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // a route's own error
        if (res.status == 404) {
            send_error(res, 404, "no such path: " + req.path + " (the API: " + kRoutes + ")");
        } else if (res.status == 413) {
            send_error(res, 413, "the request body is over 1 MiB");
        } else {
            send_error(res, res.status, "the request was refused (HTTP " + std::to_string(res.status) + ")");
        }
        return httplib::Server::HandlerResponse::Handled;
    };
    server.set_error_handler(fill);
    server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        send_error(res, 500, "the server failed on this request");
    });
}

// SIGINT and SIGTERM are blocked in every thread (the server's and OpenMP's
// inherit the mask) and taken here, by sigtimedwait, so stopping is ordinary
// code and not a signal handler.
sigset_t stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
}

int bind_port(httplib::Server& server, const ServeOptions& o) {
    const int port = o.port == 0 ? server.bind_to_any_port(o.host) : (server.bind_to_port(o.host, o.port) ? o.port : -1);
    if (port <= 0) {
        throw Error("serve: cannot listen on " + o.host + ":" + std::to_string(o.port) +
                    " (the port is taken, or the host is not an address of this machine)");
    }
    return port;
}

}  // namespace

int run_serve(const ServeOptions& o, std::ostream& out) {
    if (o.port < 0 || o.port > 65535) throw Error("--port must be in [0, 65535], got " + std::to_string(o.port));
    const sigset_t signals = stop_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts
    const Explorer explorer(o.checkpoint);

    httplib::Server server;
    std::atomic<bool> stopping{false};
    server.set_payload_max_length(kMaxBody);
    server.set_keep_alive_timeout(1);  // idle connections do not hold up the stop
    // httplib's default adds SO_REUSEPORT, which would let a second server share the port unnoticed
    server.set_socket_options([](socket_t sock) {
        const int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    add_routes(server, explorer, stopping);
    add_error_bodies(server);
    const int port = bind_port(server, o);

    std::promise<void> stopped;
    std::future<void> listen_done = stopped.get_future();
    std::thread listener([&] {
        server.listen_after_bind();
        stopped.set_value();
    });
    while (!server.is_running() && listen_done.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) {
    }
    out << "serving " << o.checkpoint << " on http://" << o.host << ":" << port << "/" << std::endl;  // flushed

    const timespec tick{0, 100'000'000};  // 0.1 s
    while (sigtimedwait(&signals, nullptr, &tick) < 0 && server.is_running()) {
    }
    stopping = true;
    server.stop();
    // A request still computing (a large heads report) may hold a worker
    // thread; the promise is to exit within a second, so do not wait for it.
    if (listen_done.wait_for(std::chrono::milliseconds(700)) != std::future_status::ready) {
        out.flush();
        std::_Exit(0);
    }
    listener.join();
    return 0;
}

}  // namespace xgrad::serve
