/*
 * The hub's dashboard. Plain JavaScript, no build step, nothing loaded from
 * elsewhere. Talks to the hub that served it:
 * - GET stats (key in X-API-Key): checks the key (a browser cannot see the
 *   401 that refuses a websocket) and gives the publish counter that the
 *   messages-per-second chart is drawn from, polled every 2 s;
 * - the /info websocket: connections and subscriptions, pushed by the hub;
 * - picloud.js on /subscribe (protocol=2): the tail of watched events, and
 *   presence ($SYS/clients/+, retained by the hub) for the devices table;
 * - GET retained?event=# (every retained value outside $SYS/): fetched at
 *   login and reconnect, then every 3 s while the tab is visible. Polled
 *   rather than subscribed to "#": a subscription would bring the page every
 *   message of every event (most not retained, and a live frame does not
 *   say whether it was), while the poll costs one small answer per tick;
 * - POST publish: the test message form, whose answer says what went wrong.
 * A key held to some topics gets 403 from stats and /info, whose answer
 * lists its topics: the page says so and shows what the key may see (its
 * devices, the retained values and watched events within its topics).
 * dashboard-view.js draws; this file holds the state and the connections.
 * The key lives in sessionStorage, never in this page's URL.
 */
(function () {
    "use strict";

    var KEY_ITEM = "picloud.apiKey";
    var WATCH_ITEM = "picloud.watched";
    var POLL_MS = 2000;
    var CHART_SAMPLES = 150;  // 5 minutes of 2 s samples
    var TAIL_ROWS = 200;
    var RETAINED_MS = 3000;
    var PRESENCE = "$SYS/clients/";
    // Names earlier loads of this page gave themselves (see clientName).
    var PAST_DASHBOARD = /^dashboard-[0-9a-f]{4}$/;
    var NAME_ITEM = "picloud.clientName";

    var base = new URL(".", location.href);
    var wsBase = base.href.replace(/^http/, "ws").replace(/\/+$/, "");
    // Kept for the tab, so a reload is the same device, not a new one.
    var clientName = sessionStorage.getItem(NAME_ITEM) ||
        "dashboard-" + (0x10000 + Math.floor(Math.random() * 0x10000)).toString(16).slice(1);
    sessionStorage.setItem(NAME_ITEM, clientName);

    var key = null;
    var info = null;          // the /info websocket
    var infoAttempt = 0;
    var retryTimer = null;
    var pollTimer = null;
    var tailClient = null;
    var lastStats = null;
    var rates = [];
    var watched = [];
    var tailCallbacks = {};   // watched event -> its callback on tailClient
    var devices = {};         // client name -> {online, since}
    var retainedTimer = null;
    var generation = 0;       // bumped on logout, so late callbacks of an old session do nothing
    var limited = false;      // the key is held to some topics (no stats, no /info)

    function $(id) { return document.getElementById(id); }

    function setStatus(state, text) {
        var el = $("status");
        el.dataset.state = state;
        el.textContent = text;
    }

    function showLogin(error) {
        $("main").hidden = true;
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
        $("logout").hidden = false;
    }

    // 'ok', 'limited', 'wrong-key' or 'unreachable', with the stats when
    // 'ok' and the key's topics when 'limited'.
    function fetchStats(apiKey) {
        return fetch(new URL("stats", base), {headers: {"X-API-Key": apiKey}, cache: "no-store"})
            .then(function (response) {
                if (response.status === 401) {
                    return {result: "wrong-key"};
                }
                if (response.status === 403) {
                    return response.json().then(function (answer) {
                        return answer.topics ? {result: "limited", topics: answer.topics} : {result: "unreachable"};
                    });
                }
                if (!response.ok) {
                    return {result: "unreachable"};
                }
                return response.json().then(function (stats) { return {result: "ok", stats: stats}; });
            }, function () {
                return {result: "unreachable"};
            });
    }

    function start(apiKey) {
        var mine = ++generation;
        key = apiKey;
        setStatus("connecting", "connecting…");
        fetchStats(apiKey).then(function (answer) {
            if (mine !== generation) {
                return;
            }
            if (answer.result === "wrong-key") {
                stop();
                sessionStorage.removeItem(KEY_ITEM);
                showLogin("Wrong key: the hub refused it. Check the key and try again.");
            } else if (answer.result === "unreachable") {
                unreachable(function () { start(apiKey); });
            } else if (answer.result === "limited") {
                sessionStorage.setItem(KEY_ITEM, apiKey);
                showMain();
                showLimited(answer.topics);
                setStatus("live", "live, limited key");
                openTail(mine);
                pollRetained(mine);
            } else {
                sessionStorage.setItem(KEY_ITEM, apiKey);
                showMain();
                lastStats = {stats: answer.stats, at: Date.now()};
                openInfo(mine);
                openTail(mine);
                schedulePoll(mine);
                pollRetained(mine);
            }
        });
    }

    function showLimited(topics) {
        limited = true;
        $("main").classList.add("limited");
        var note = $("limited");
        note.hidden = false;
        note.textContent = "This key may see only " + topics.join(", ") + ". The hub's counters, " +
            "connections and subscriptions show every event, so the hub does not show them to it.";
    }

    function stop() {
        generation += 1;
        limited = false;
        $("main").classList.remove("limited");
        $("limited").hidden = true;
        $("watch-error").hidden = true;
        clearTimeout(retryTimer);
        clearTimeout(pollTimer);
        clearTimeout(retainedTimer);
        if (info !== null) {
            var old = info;
            info = null;
            old.close();
        }
        if (tailClient !== null) {
            tailClient.close();
            tailClient = null;
        }
        lastStats = null;
        rates = [];
        devices = {};
    }

    // Backoff 1, 2, 4... 30 s, with the countdown shown.
    function unreachable(retry) {
        var delay = Math.min(30, Math.pow(2, infoAttempt));
        infoAttempt += 1;
        var until = Date.now() + delay * 1000;
        var mine = generation;
        clearTimeout(retryTimer);
        (function tick() {
            if (mine !== generation) {
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
        var ws = new WebSocket(wsBase + "/info?apiKey=" + encodeURIComponent(key));
        info = ws;
        ws.onopen = function () {
            infoAttempt = 0;
            setStatus("live", "live");
            $("main").classList.remove("stale");
        };
        ws.onmessage = function (event) {
            if (info === ws) {
                PiCloudView.renderInfo(withoutOwnPresence(JSON.parse(event.data)), clientName);
            }
        };
        ws.onclose = function () {
            if (info !== ws || mine !== generation) {
                return;
            }
            info = null;
            $("main").classList.add("stale");
            // Check the key again first: the hub may have come back with another.
            clearTimeout(pollTimer);
            clearTimeout(retainedTimer);
            unreachable(function () { reconnect(mine); });
        };
    }

    // The page's own presence subscription is how it works, not something
    // a person subscribed to: left out unless they watch that event too.
    function withoutOwnPresence(snapshot) {
        var filter = PRESENCE + "+";
        if (watched.indexOf(filter) >= 0) {
            return snapshot;
        }
        snapshot.subscriptions = (snapshot.subscriptions || []).map(function (s) {
            if (s.name !== filter) {
                return s;
            }
            return Object.assign({}, s, {
                connections: s.connections.filter(function (c) { return c.client_name !== clientName; })
            });
        }).filter(function (s) { return s.connections.length > 0; });
        return snapshot;
    }

    function reconnect(mine) {
        setStatus("connecting", "connecting…");
        fetchStats(key).then(function (answer) {
            if (mine !== generation) {
                return;
            }
            if (answer.result === "wrong-key") {
                stop();
                sessionStorage.removeItem(KEY_ITEM);
                showLogin("Wrong key: the hub no longer accepts this key.");
            } else if (answer.result === "unreachable") {
                unreachable(function () { reconnect(mine); });
            } else {
                lastStats = {stats: answer.stats, at: Date.now()};
                openInfo(mine);
                schedulePoll(mine);
                pollRetained(mine);
            }
        });
    }

    // -- messages per second -------------------------------------------------

    function schedulePoll(mine) {
        clearTimeout(pollTimer);
        pollTimer = setTimeout(function () {
            fetchStats(key).then(function (answer) {
                if (mine !== generation) {
                    return;
                }
                if (answer.result !== "ok") {
                    // A lost hub closes the info socket too, which handles it.
                    schedulePoll(mine);
                    return;
                }
                var now = Date.now();
                var published = answer.stats.published - lastStats.stats.published;
                // A restarted hub counts from zero again.
                var rate = published >= 0 ? published / ((now - lastStats.at) / 1000) : 0;
                lastStats = {stats: answer.stats, at: now};
                rates.push(rate);
                if (rates.length > CHART_SAMPLES) {
                    rates.shift();
                }
                $("n-rate").textContent = rate < 10 ? rate.toFixed(1) : Math.round(rate);
                PiCloudView.drawChart(rates, CHART_SAMPLES);
                schedulePoll(mine);
            });
        }, POLL_MS);
    }

    // -- retained values -------------------------------------------------------

    function pollRetained(mine) {
        clearTimeout(retainedTimer);
        fetch(new URL("retained?event=%23", base), {headers: {"X-API-Key": key}, cache: "no-store"})
            .then(function (response) {
                // Anything else (a lost hub, Redis away): keep what is shown.
                return response.ok ? response.json() : null;
            })
            .catch(function () { return null; })
            .then(function (answer) {
                if (mine !== generation) {
                    return;
                }
                if (answer !== null) {
                    PiCloudView.renderRetained(answer.retained);
                }
                PiCloudView.renderDevices(devices, clientName);  // moves the "since" on
                // While the hub is away, its reconnect polls again.
                if (document.visibilityState === "visible" && (info !== null || limited)) {
                    clearTimeout(retainedTimer);
                    retainedTimer = setTimeout(function () { pollRetained(mine); }, RETAINED_MS);
                }
            });
    }

    document.addEventListener("visibilitychange", function () {
        clearTimeout(retainedTimer);
        if (document.visibilityState === "visible" && lastStats !== null) {
            pollRetained(generation);
        }
    });

    // -- devices (presence) ------------------------------------------------------

    function onPresence(mine, message) {
        if (mine !== generation) {
            return;
        }
        var name = message.event.slice(PRESENCE.length);
        var data = message.data;
        if (data === null || typeof data !== "object") {
            delete devices[name];  // the hub forgot the name
        } else if (!data.online && name !== clientName && PAST_DASHBOARD.test(name)) {
            // Every tab of this page is a client of its own: closed ones are clutter.
            delete devices[name];
        } else {
            devices[name] = {online: data.online === true, since: data.since};
        }
        PiCloudView.renderDevices(devices, clientName);
    }

    // -- tail of watched events ----------------------------------------------

    function openTail(mine) {
        tailCallbacks = {};
        tailClient = new PiCloudSocketClient(wsBase, key, clientName);
        tailClient.onerror = function (frame) {
            // A subscription the key's topics do not cover, for instance.
            if (mine === generation) {
                $("watch-error").hidden = false;
                $("watch-error").textContent = "refused: " + frame.error;
            }
        };
        tailClient.onstate = function (socket, state) {
            // After a reconnect the hub sends every presence value again.
            if (socket === "subscribe" && state === "open" && mine === generation) {
                devices = {};
            }
        };
        tailClient.subscribe(PRESENCE + "+", function (message) { onPresence(mine, message); });
        watched.forEach(subscribeTail);
    }

    function subscribeTail(event) {
        var callback = function (message) {
            PiCloudView.addTailRow(message, TAIL_ROWS);
        };
        tailCallbacks[event] = callback;
        tailClient.subscribe(event, callback);
    }

    function renderWatched() {
        var list = $("watched");
        list.textContent = "";
        watched.forEach(function (event) {
            var item = document.createElement("li");
            item.textContent = event;
            var remove = document.createElement("button");
            remove.type = "button";
            remove.textContent = "×";
            remove.title = "stop watching " + event;
            remove.addEventListener("click", function () {
                watched = watched.filter(function (e) { return e !== event; });
                sessionStorage.setItem(WATCH_ITEM, JSON.stringify(watched));
                if (tailClient !== null) {
                    // Only the tail's callback: the devices table may share the event.
                    tailClient.unsubscribe(event, tailCallbacks[event]);
                    delete tailCallbacks[event];
                }
                renderWatched();
            });
            item.appendChild(remove);
            list.appendChild(item);
        });
    }

    // -- forms -----------------------------------------------------------------

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

    $("watch-form").addEventListener("submit", function (e) {
        e.preventDefault();
        var event = $("watch-event").value;
        if (event && watched.indexOf(event) < 0) {
            watched.push(event);
            sessionStorage.setItem(WATCH_ITEM, JSON.stringify(watched));
            if (tailClient !== null) {
                subscribeTail(event);
            }
            renderWatched();
        }
        $("watch-event").value = "";
    });

    $("publish-form").addEventListener("submit", function (e) {
        e.preventDefault();
        var result = $("publish-result");
        var data = $("pub-data").value;
        if (!$("pub-string").checked) {
            // The CLI's rule: what parses as JSON is sent as that value.
            try {
                data = JSON.parse(data);
            } catch (err) {
                // not JSON: sent as the text it is
            }
        }
        var message = {event: $("pub-event").value, data: data};
        var retain = $("pub-retain").checked;
        if (retain) {
            message.retain = true;
        }
        var body = JSON.stringify(message);
        result.className = "";
        result.textContent = "publishing…";
        fetch(new URL("publish", base), {
            method: "POST",
            headers: {"X-API-Key": key, "X-API-Client-Name": clientName, "Content-Type": "application/json"},
            body: body
        }).then(function (response) {
            if (response.status === 201) {
                result.textContent = "published at " + new Date().toLocaleTimeString();
                if (retain) {
                    pollRetained(generation);
                }
                return;
            }
            return response.json().then(function (answer) {
                result.className = "error";
                result.textContent = "refused: " + (answer.error || response.status);
            });
        }, function () {
            result.className = "error";
            result.textContent = "hub unreachable, not published";
        });
    });

    try {
        watched = JSON.parse(sessionStorage.getItem(WATCH_ITEM) || "[]");
    } catch (err) {
        watched = [];
    }
    renderWatched();
    PiCloudView.drawChart(rates, CHART_SAMPLES);
    var saved = sessionStorage.getItem(KEY_ITEM);
    if (saved !== null) {
        start(saved);
    } else {
        // A hub run with --no-auth takes any key: no need to ask for one.
        fetchStats("").then(function (answer) {
            if (answer.result === "ok") {
                start("");
            } else {
                showLogin(null);
            }
        });
    }
}());
