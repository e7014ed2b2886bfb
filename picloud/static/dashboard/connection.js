/*
 * The session with the hub: the key, its checks, the connections, and what
 * they bring, told to the views on the bus (core.js).
 * - GET stats (key in X-API-Key) checks the key (a browser cannot see the
 *   401 that refuses a websocket), says its role, and gives the publish
 *   counter that messages per second are computed from, every 2 s;
 * - the /info websocket: connections and subscriptions, pushed by the hub
 *   ("info");
 * - one picloud.js client on /subscribe for presence and the views'
 *   subscriptions (subscriptions.js).
 * A key held to some topics gets 403 from stats and /info, whose answer
 * lists its topics: the page says so and shows what the key may see.
 * The key lives in sessionStorage, never in this page's URL.
 */
(function (root) {
    "use strict";

    var D = root.PiCloudDash;
    var $ = D.$;
    var KEY_ITEM = "picloud.apiKey";
    var NAME_ITEM = "picloud.clientName";
    var POLL_MS = 2000;

    var wsBase = D.base.href.replace(/^http/, "ws").replace(/\/+$/, "");
    // Kept for the tab, so a reload is the same device, not a new one.
    D.clientName = sessionStorage.getItem(NAME_ITEM) ||
        "dashboard-" + (0x10000 + Math.floor(Math.random() * 0x10000)).toString(16).slice(1);
    sessionStorage.setItem(NAME_ITEM, D.clientName);

    D.key = null;
    D.role = null;            // from /stats; null for a limited key
    D.limited = false;        // the key is held to some topics (no stats, no /info)
    D.live = false;           // connected, as far as the page knows
    D.started = false;        // logged in: the views may ask the hub
    D.generation = 0;         // bumped on logout, so late callbacks of an old session do nothing

    var info = null, infoAttempt = 0, retryTimer = null, pollTimer = null;
    var lastStats = null;

    function setStatus(state, text) {
        var el = $("status");
        el.dataset.state = state;
        el.textContent = text;
    }

    function showLogin(error) {
        $("main").hidden = true;
        $("tabs").hidden = true;
        $("logout").hidden = true;
        $("login").hidden = false;
        $("login-error").hidden = !error;
        $("login-error").textContent = error || "";
        setStatus(error ? "wrong-key" : "logged-out", error ? "wrong key" : "not connected");
        $("api-key").focus();
    }

    function showMain() {
        $("login").hidden = true;
        $("main").hidden = false;
        $("tabs").hidden = false;
        $("logout").hidden = false;
    }

    // 'ok', 'limited', 'wrong-key' or 'unreachable', with the stats when
    // 'ok' and the key's topics when 'limited'.
    function fetchStats(apiKey) {
        var asked = Date.now();
        return D.api("stats", {headers: {"X-API-Key": apiKey}}).then(function (answer) {
            if (answer.status === 401) {
                return {result: "wrong-key"};
            }
            if (answer.status === 403) {
                var topics = answer.body && answer.body.topics;
                return topics ? {result: "limited", topics: topics} : {result: "unreachable"};
            }
            if (!answer.ok) {
                return {result: "unreachable"};
            }
            // The hub stamped its answer after it was asked for: taken as
            // stamped then, the hub's now is never behind its clock (ahead by
            // the answer's time at most), so a chart's range, which ends at
            // it, takes in the latest reading. Even a second's skew counts.
            var hubNow = Date.parse(answer.body.created_at) / 1000;
            if (isFinite(hubNow)) {
                D.skew = hubNow - asked / 1000;
            }
            return {result: "ok", stats: answer.body};
        });
    }

    function start(apiKey) {
        var mine = ++D.generation;
        D.key = apiKey;
        setStatus("connecting", "connecting…");
        fetchStats(apiKey).then(function (answer) {
            if (mine !== D.generation) {
                return;
            }
            if (answer.result === "wrong-key") {
                stop();
                sessionStorage.removeItem(KEY_ITEM);
                showLogin("Wrong key: the hub refused it. Check the key and try again.");
            } else if (answer.result === "unreachable") {
                unreachable(function () { start(apiKey); });
            } else {
                sessionStorage.setItem(KEY_ITEM, apiKey);
                showMain();
                if (answer.result === "limited") {
                    showLimited(answer.topics);
                    D.live = true;
                    setStatus("live", "live, limited key");
                } else {
                    D.role = answer.stats.role;
                    lastStats = {stats: answer.stats, at: Date.now()};
                    openInfo(mine);
                    schedulePoll(mine);
                }
                D.openClient(mine);
                D.started = true;
                D.emit("session", "started");
            }
        });
    }

    function showLimited(topics) {
        D.limited = true;
        D.topics = topics;
        $("main").classList.add("limited");
        document.documentElement.classList.add("limited");
        var note = $("limited");
        note.hidden = false;
        note.textContent = "This key may see only " + topics.join(", ") + ". The hub's counters, " +
            "connections and subscriptions show every event, so the hub does not show them to it.";
    }

    function stop() {
        D.generation += 1;
        D.started = false;
        D.limited = false;
        D.live = false;
        D.role = null;
        $("main").classList.remove("limited");
        document.documentElement.classList.remove("limited");
        $("limited").hidden = true;
        clearTimeout(retryTimer);
        clearTimeout(pollTimer);
        if (info !== null) {
            var old = info;
            info = null;
            old.close();
        }
        D.closeClient();
        lastStats = null;
        D.emit("session", "stopped");
    }

    // Backoff 1, 2, 4... 30 s, with the countdown shown.
    function unreachable(retry) {
        var delay = Math.min(30, Math.pow(2, infoAttempt));
        infoAttempt += 1;
        var until = Date.now() + delay * 1000;
        var mine = D.generation;
        D.live = false;
        clearTimeout(retryTimer);
        (function tick() {
            if (mine !== D.generation) {
                return;
            }
            var left = Math.ceil((until - Date.now()) / 1000);
            if (left <= 0) {
                retry();
                return;
            }
            setStatus("unreachable", "hub unreachable, retrying in " + left + " s");
            retryTimer = setTimeout(tick, 250);
        }());
    }

    function openInfo(mine) {
        var ws = new WebSocket(wsBase + "/info?apiKey=" + encodeURIComponent(D.key));
        info = ws;
        ws.onopen = function () {
            infoAttempt = 0;
            D.live = true;
            setStatus("live", "live");
            $("main").classList.remove("stale");
            D.emit("session", "live");
        };
        ws.onmessage = function (event) {
            if (info === ws) {
                D.emit("info", JSON.parse(event.data));
            }
        };
        ws.onclose = function () {
            if (info !== ws || mine !== D.generation) {
                return;
            }
            info = null;
            D.live = false;
            $("main").classList.add("stale");
            // Check the key again first: the hub may have come back with another.
            clearTimeout(pollTimer);
            unreachable(function () { reconnect(mine); });
        };
    }

    function reconnect(mine) {
        setStatus("connecting", "connecting…");
        fetchStats(D.key).then(function (answer) {
            if (mine !== D.generation) {
                return;
            }
            if (answer.result === "wrong-key") {
                stop();
                sessionStorage.removeItem(KEY_ITEM);
                showLogin("Wrong key: the hub no longer accepts this key.");
            } else if (answer.result === "unreachable") {
                unreachable(function () { reconnect(mine); });
            } else {
                D.role = answer.stats ? answer.stats.role : null;
                lastStats = answer.stats ? {stats: answer.stats, at: Date.now()} : null;
                openInfo(mine);
                schedulePoll(mine);
            }
        });
    }

    // Messages per second, from the publish counter: "stats" {rate, stats}.
    function schedulePoll(mine) {
        clearTimeout(pollTimer);
        pollTimer = setTimeout(function () {
            fetchStats(D.key).then(function (answer) {
                if (mine !== D.generation) {
                    return;
                }
                if (answer.result === "ok" && lastStats !== null) {
                    var now = Date.now();
                    var published = answer.stats.published - lastStats.stats.published;
                    // A restarted hub counts from zero again.
                    var rate = published >= 0 ? published / ((now - lastStats.at) / 1000) : 0;
                    lastStats = {stats: answer.stats, at: now};
                    D.role = answer.stats.role;
                    D.emit("stats", {rate: rate, stats: answer.stats});
                }
                // A lost hub closes the info socket too, which handles it.
                schedulePoll(mine);
            });
        }, POLL_MS);
    }

    // -- the login form ----------------------------------------------------------

    $("login-form").addEventListener("submit", function (e) {
        e.preventDefault();
        $("login-error").hidden = true;
        start($("api-key").value);
    });

    $("logout").addEventListener("click", function () {
        stop();
        sessionStorage.removeItem(KEY_ITEM);
        $("api-key").value = "";
        showLogin(null);
    });

    D.begin = function () {
        var saved = sessionStorage.getItem(KEY_ITEM);
        if (saved !== null) {
            start(saved);
            return;
        }
        // A hub run with --no-auth takes any key: no need to ask for one.
        fetchStats("").then(function (answer) {
            if (answer.result === "ok") {
                start("");
            } else {
                showLogin(null);
            }
        });
    };
}(this));
