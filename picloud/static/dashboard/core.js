/*
 * What every view of the dashboard shares: the PiCloudDash namespace, DOM
 * helpers, the frame scheduler, the views' registry, a small event bus,
 * number and time formats and fetch with the key.
 *
 * Rendering happens on animation frames, never per message: a view that
 * learns something calls D.invalidate(name); its render runs once in the
 * next frame if it is the view shown, or when it is shown next, and at most
 * once per `every` ms for views that ask. A burst of a thousand presence
 * messages costs a few renders, and a hidden tab (where browsers pause
 * animation frames) renders nothing until it is looked at.
 */
(function (root) {
    "use strict";

    var D = root.PiCloudDash = root.PiCloudDash || {};

    D.$ = function (id) { return document.getElementById(id); };

    // An element with a class and text; children appended if given.
    D.el = function (tag, className, text, children) {
        var node = document.createElement(tag);
        if (className) {
            node.className = className;
        }
        if (text !== undefined && text !== null) {
            node.textContent = text;
        }
        (children || []).forEach(function (child) { node.appendChild(child); });
        return node;
    };

    D.clear = function (node) {
        while (node.firstChild) {
            node.removeChild(node.firstChild);
        }
        return node;
    };

    // A table cell with text (and a class).
    D.cell = function (row, text, className) {
        var td = row.insertCell();
        td.textContent = text;
        if (className) {
            td.className = className;
        }
        return td;
    };

    // -- the bus: "presence", "info", "stats", "session", "message", "theme"

    var listeners = {};
    D.on = function (name, callback) {
        (listeners[name] = listeners[name] || []).push(callback);
    };
    D.emit = function (name, value) {
        (listeners[name] || []).forEach(function (callback) { callback(value); });
    };

    // -- views and the frame scheduler ----------------------------------------

    var views = {};      // name -> {render, show, hide, dirty}
    var jobs = [];       // one-off callbacks for the next frame
    var frame = null;
    D.current = null;    // the name of the view shown
    D.renders = 0;       // views drawn so far (the tests count them)

    // view: {render, show?, hide?, every?: the least ms between two renders,
    // for views whose every change is not worth a frame (lists of devices)}
    D.view = function (name, view) {
        view.dirty = true;
        view.drawnAt = 0;
        view.timer = null;
        views[name] = view;
        return view;
    };

    D.views = views;

    function runFrame() {
        frame = null;
        var todo = jobs;
        jobs = [];
        todo.forEach(function (job) { job(); });
        var view = views[D.current];
        if (view && view.dirty) {
            var wait = view.every ? view.drawnAt + view.every - Date.now() : 0;
            if (wait <= 0) {
                view.dirty = false;
                view.drawnAt = Date.now();
                D.renders += 1;
                view.render();
            } else if (view.timer === null) {
                view.timer = setTimeout(function () {
                    view.timer = null;
                    requestFrame();
                }, wait);
            }
        }
    }

    function requestFrame() {
        if (frame === null) {
            frame = root.requestAnimationFrame(runFrame);
        }
    }

    D.invalidate = function (name) {
        var view = views[name];
        if (!view) {
            return;
        }
        view.dirty = true;
        if (name === D.current) {
            requestFrame();
        }
    };

    D.nextFrame = function (job) {
        jobs.push(job);
        requestFrame();
    };

    D.show = function (name) {
        var old = views[D.current];
        if (old && D.current !== name && old.hide) {
            old.hide();
        }
        D.current = name;
        var view = views[name];
        if (view) {
            if (view.show) {
                view.show();
            }
            view.dirty = true;
            view.drawnAt = 0;  // at once
            requestFrame();
        }
    };

    // -- formats ----------------------------------------------------------------

    var small = new Intl.NumberFormat(undefined, {maximumSignificantDigits: 4});
    var large = new Intl.NumberFormat(undefined, {maximumFractionDigits: 0});

    // A reading as people read it: 21.53, 0.0012, 1,234 (never 1.2e3).
    D.number = function (value) {
        if (typeof value !== "number" || !isFinite(value)) {
            return "–";
        }
        return Math.abs(value) >= 10000 ? large.format(value) : small.format(value);
    };

    // The hub's time in unix seconds: its readings and messages are stamped
    // by its clock, which may not be this browser's (a Pi without a network
    // time source); connection.js sets D.skew from GET stats.
    D.skew = 0;
    D.now = function () { return Date.now() / 1000 + D.skew; };

    // seconds (unix) or an RFC 3339 string -> "12 s ago", by the hub's clock
    D.ago = function (when) {
        var at = typeof when === "number" ? when : Date.parse(when) / 1000;
        var seconds = Math.max(0, D.now() - at);
        if (!isFinite(seconds)) {
            return "–";
        }
        if (seconds < 60) {
            return Math.floor(seconds) + " s ago";
        }
        if (seconds < 3600) {
            return Math.floor(seconds / 60) + " min ago";
        }
        if (seconds < 86400) {
            return Math.floor(seconds / 3600) + " h ago";
        }
        return Math.floor(seconds / 86400) + " days ago";
    };

    D.fullTime = function (when) {
        return new Date(typeof when === "number" ? when * 1000 : when).toLocaleString();
    };

    // A span of text holding a number, kept on one line (dashboard.css .num).
    D.num = function (text, className) {
        return D.el("span", "num" + (className ? " " + className : ""), text);
    };

    // JSON as text whose numbers are .num spans (never broken), with a place
    // to break after each comma, so a long object wraps between its fields.
    var TOKENS = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|,/g;
    D.json = function (node, value) {
        var text = JSON.stringify(value);
        if (text === undefined) {
            text = "undefined";
        }
        var at = 0, match;
        TOKENS.lastIndex = 0;
        while ((match = TOKENS.exec(text)) !== null) {
            if (match.index > at) {
                node.appendChild(document.createTextNode(text.slice(at, match.index)));
            }
            var token = match[0];
            if (token === ",") {
                node.appendChild(document.createTextNode(","));
                node.appendChild(document.createElement("wbr"));
            } else if (token.charAt(0) === '"') {
                node.appendChild(document.createTextNode(token));
            } else {
                node.appendChild(D.num(token));
            }
            at = match.index + token.length;
        }
        if (at < text.length) {
            node.appendChild(document.createTextNode(text.slice(at)));
        }
        return node;
    };

    // An event's name with a place to break after each "/", so a long one
    // wraps between its levels.
    D.eventName = function (node, name) {
        name.split("/").forEach(function (level, i, levels) {
            node.appendChild(document.createTextNode(i < levels.length - 1 ? level + "/" : level));
            if (i < levels.length - 1) {
                node.appendChild(document.createElement("wbr"));
            }
        });
        return node;
    };

    // -- the hub's HTTP routes ------------------------------------------------------

    D.base = new URL(".", location.href);

    // fetch(path) with the key: resolves {status, ok, body} (body parsed
    // JSON when it is JSON, else text), or {status: 0} when the hub is away.
    D.api = function (path, options) {
        var opts = Object.assign({cache: "no-store"}, options || {});
        opts.headers = Object.assign({"X-API-Key": D.key || ""}, opts.headers || {});
        return fetch(new URL(path, D.base), opts).then(function (response) {
            var type = response.headers.get("Content-Type") || "";
            var read = type.indexOf("json") >= 0 ? response.json() : response.text();
            return read.then(function (body) {
                return {status: response.status, ok: response.ok, body: body};
            }, function () {
                return {status: response.status, ok: false, body: null};
            });
        }, function () {
            return {status: 0, ok: false, body: null};
        });
    };

    // What a refusal says, in the hub's words when it gave some.
    D.refusal = function (answer) {
        if (answer.status === 0) {
            return "hub unreachable";
        }
        var said = answer.body && answer.body.error;
        return said || "the hub answered " + answer.status;
    };
}(this));
