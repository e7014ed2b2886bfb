/*
 * The devices view: every client name the hub's presence knows, online
 * ones first with how they are connected and what they subscribe to (from
 * /info), offline ones collapsed, last seen first, drawn a page at a time:
 * the hub keeps up to 1,000 offline names, and scripts that invent a name
 * per run reach that. What a device publishes is what the event names say
 * (values.js D.publishedBy). An admin key may forget an offline device
 * (POST devices/forget), which clears its presence on every hub.
 */
(function (root) {
    "use strict";

    var D = root.PiCloudDash;
    var $ = D.$;
    var PAGE = 50;
    var shownOffline = PAGE;       // rows of offline devices drawn
    var publishes = {};            // client name -> [event] for D.knownVersion
    var publishesVersion = -1;
    var rows = {};                 // client name -> {key, tr, when}: its row as last drawn

    D.view("devices", {render: render, every: 250});

    D.on("presence", function () { D.invalidate("devices"); });
    D.on("session", function () { D.invalidate("devices"); });

    function byName(a, b) {
        return a < b ? -1 : a > b ? 1 : 0;
    }

    function matches(name, filter) {
        return !filter || name.toLowerCase().indexOf(filter) >= 0;
    }

    function publishedBy(name) {
        if (publishesVersion !== D.knownVersion) {
            publishes = {};
            publishesVersion = D.knownVersion;
        }
        if (!publishes[name]) {
            publishes[name] = D.knownEvents().filter(function (event) {
                return D.publishedBy(event, name);
            }).sort(byName);
        }
        return publishes[name];
    }

    // client name -> {connections: [...], subscribes: [event]} from /info
    function connectedNow() {
        var byClient = {};
        var snapshot = D.info();
        if (snapshot === null) {
            return byClient;
        }
        (snapshot.all_connections || []).forEach(function (c) {
            var entry = byClient[c.client_name] = byClient[c.client_name] || {connections: [], subscribes: []};
            entry.connections.push(c);
        });
        D.othersSubscriptions().forEach(function (s) {
            s.connections.forEach(function (c) {
                var entry = byClient[c.client_name];
                if (entry && entry.subscribes.indexOf(s.name) < 0) {
                    entry.subscribes.push(s.name);
                }
            });
        });
        return byClient;
    }

    function list(items, empty) {
        var text = items.length ? items.slice(0, 6).join(", ") + (items.length > 6 ? " and " + (items.length - 6) + " more" : "") : empty;
        return D.el("span", items.length ? "events" : "events empty", text);
    }

    // A device's row, made again only when what it shows changed; its
    // "seen" text is brought up to date in place.
    function row(name, device, connected) {
        var key = [device.online, device.since, D.role, D.knownVersion, JSON.stringify(connected || null)].join("|");
        var kept = rows[name];
        if (kept && kept.key === key) {
            kept.when.textContent = (device.online ? "since " : "last seen ") + D.ago(device.since);
            return kept.tr;
        }
        var tr = document.createElement("tr");
        tr.dataset.client = name;
        if (name === D.clientName) {
            tr.className = "own";
        }
        D.cell(tr, name, "name");
        var state = tr.insertCell();
        state.className = "state-cell";
        state.appendChild(D.el("span", "state " + (device.online ? "online" : "offline"),
                               device.online ? "online" : "offline"));
        var when = D.cell(tr, (device.online ? "since " : "last seen ") + D.ago(device.since), "when");
        when.title = D.fullTime(device.since);
        var what = tr.insertCell();
        what.className = "what";
        what.appendChild(D.el("small", null, "publishes "));
        what.appendChild(list(publishedBy(name), "–"));
        if (connected && connected.subscribes.length) {
            what.appendChild(D.el("br"));
            what.appendChild(D.el("small", null, "subscribes to "));
            what.appendChild(list(connected.subscribes, ""));
        }
        if (connected) {
            var via = connected.connections.map(function (c) { return (c.protocol || "websocket") + " from " + c.ip_address; });
            what.appendChild(D.el("br"));
            what.appendChild(D.el("small", "via", via.join(", ")));
        }
        var actions = tr.insertCell();
        actions.className = "actions";
        if (!device.online && D.role === "admin") {
            var forget = D.el("button", "forget quiet small", "Forget");
            forget.type = "button";
            forget.title = "forget this device: the hub clears its presence";
            forget.dataset.client = name;
            actions.appendChild(forget);
        }
        rows[name] = {key: key, tr: tr, when: when};
        return tr;
    }

    // Puts `names`' rows in `body` in that order, moving only what moved.
    function place(body, names, connected) {
        var wanted = names.map(function (name) { return row(name, D.devices[name], connected && connected[name]); });
        wanted.forEach(function (tr, i) {
            if (body.children[i] !== tr) {
                body.insertBefore(tr, body.children[i] || null);
            }
        });
        while (body.children.length > wanted.length) {
            body.removeChild(body.lastChild);
        }
    }

    function render() {
        var filter = $("device-filter").value.trim().toLowerCase();
        var online = [], offline = [];
        Object.keys(D.devices).forEach(function (name) {
            if (matches(name, filter)) {
                (D.devices[name].online ? online : offline).push(name);
            }
        });
        online.sort(byName);
        offline.sort(function (a, b) {  // last seen first
            return Date.parse(D.devices[b].since) - Date.parse(D.devices[a].since) || byName(a, b);
        });
        var connected = connectedNow();
        Object.keys(rows).forEach(function (name) {
            if (!D.devices[name]) {
                delete rows[name];
            }
        });
        place($("devices").tBodies[0], online, connected);
        $("devices").hidden = online.length === 0;
        var total = Object.keys(D.devices).length;
        $("no-devices").hidden = total > 0;
        $("n-online").textContent = online.length;
        $("n-offline").textContent = $("n-offline-2").textContent = offline.length;
        $("offline-section").hidden = offline.length === 0;
        place($("offline-devices").tBodies[0], $("offline-section").open ? offline.slice(0, shownOffline) : [], null);
        var more = $("more-offline");
        more.hidden = !$("offline-section").open || offline.length <= shownOffline;
        more.textContent = "Show " + Math.min(PAGE, offline.length - shownOffline) + " more of " +
            (offline.length - shownOffline);
    }

    $("device-filter").addEventListener("input", function () {
        shownOffline = PAGE;
        D.invalidate("devices");
    });
    $("offline-section").addEventListener("toggle", function () { D.invalidate("devices"); });
    $("more-offline").addEventListener("click", function () {
        shownOffline += PAGE;
        D.invalidate("devices");
    });

    $("view-devices").addEventListener("click", function (e) {
        var button = e.target.closest("button.forget");
        if (button) {
            forget(button.dataset.client, button);
        }
    });

    var REFUSALS = {
        403: "only an admin key may forget a device",
        404: "the hub no longer knows it",
        409: "it is online again: a connected device cannot be forgotten"
    };

    function forget(name, button) {
        var result = $("devices-result");
        button.disabled = true;
        result.className = "";
        result.textContent = "forgetting " + name + "…";
        D.api("devices/forget", {
            method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({client_name: name})
        }).then(function (answer) {
            button.disabled = false;
            if (answer.ok) {
                delete D.devices[name];  // its cleared presence follows
                result.textContent = "forgot " + name;
            } else {
                result.className = "error";
                var said = answer.body && answer.body.error;
                if (answer.status === 404 && !said) {  // no such route: an older hub
                    said = "this hub cannot forget devices (it has no POST devices/forget)";
                }
                result.textContent = "not forgotten: " + (said || REFUSALS[answer.status] || D.refusal(answer));
            }
            D.invalidate("devices");
        });
    }
}(this));
