/*
 * The hub view: its counters, messages per second over the last five
 * minutes, the connections (websocket and MQTT side by side) and the
 * subscriptions per event, from the /info websocket and GET stats.
 * The samples of messages per second are kept in sessionStorage, so a
 * reload of the page does not start the chart empty.
 */
(function (root) {
    "use strict";

    var D = root.PiCloudDash;
    var $ = D.$;
    var SAMPLES = 150;  // 5 minutes of 2 s samples
    var RATES_ITEM = "picloud.rates";
    var snapshot = null;
    var rates = [];     // [unix ms, messages/s]

    try {
        rates = JSON.parse(sessionStorage.getItem(RATES_ITEM) || "[]").filter(function (r) {
            return Date.now() - r[0] < SAMPLES * 2000;
        });
    } catch (err) {
        rates = [];
    }

    var cell = D.cell;
    D.view("hub", {render: render, every: 250});

    D.on("info", function (value) {
        snapshot = value;
        D.invalidate("hub");
        D.invalidate("devices");  // who is connected and subscribed
    });

    D.on("stats", function (value) {
        rates.push([Date.now(), value.rate]);
        if (rates.length > SAMPLES) {
            rates.shift();
        }
        sessionStorage.setItem(RATES_ITEM, JSON.stringify(rates));
        $("n-rate").textContent = value.rate < 10 ? value.rate.toFixed(1) : Math.round(value.rate);
        D.invalidate("hub");
    });

    D.on("session", function (what) {
        if (what === "stopped") {
            snapshot = null;
        }
    });

    D.info = function () { return snapshot; };

    // The page's own subscriptions are how it works, not something a person
    // subscribed to: left out unless the tail watches that event too.
    D.othersSubscriptions = function () {
        var own = D.ownSubscriptions();
        var watched = D.watchedEvents ? D.watchedEvents() : [];
        return ((snapshot && snapshot.subscriptions) || []).map(function (s) {
            if (!own[s.name] || watched.indexOf(s.name) >= 0) {
                return s;
            }
            return Object.assign({}, s, {
                connections: s.connections.filter(function (c) { return c.client_name !== D.clientName; })
            });
        }).filter(function (s) { return s.connections.length > 0; });
    };

    function render() {
        drawRates();
        if (snapshot === null) {
            return;
        }
        var connections = snapshot.all_connections || [];
        var others = connections.filter(function (c) { return c.client_name !== D.clientName; });
        var body = D.clear($("connections").tBodies[0]);
        var mqtt = 0;
        connections.forEach(function (c) {
            var row = body.insertRow();
            if (c.client_name === D.clientName) {
                row.className = "own";
            }
            cell(row, c.client_name, "name");
            cell(row, c.ip_address, "address");
            // MQTT clients say theirs (with keepalive and clean session); the others are websockets.
            var protocol = cell(row, c.protocol || "websocket", "protocol");
            if (c.keepalive !== undefined) {
                protocol.title = "keepalive " + c.keepalive + " s" + (c.clean_session ? ", clean session" : ", persistent session");
            }
            if (c.protocol && c.protocol.indexOf("mqtt") === 0) {
                mqtt += 1;
            }
            var when = cell(row, D.ago(c.connected_at), "when");
            when.title = D.fullTime(c.connected_at);
        });
        $("no-connections").hidden = others.length > 0;
        $("connections").hidden = connections.length === 0;
        $("n-connections").textContent = others.length;
        $("n-split").textContent = (others.length - mqtt) + " websocket, " + mqtt + " MQTT";

        var subscriptions = D.othersSubscriptions();
        var subBody = D.clear($("subscriptions").tBodies[0]);
        subscriptions.forEach(function (s) {
            var row = subBody.insertRow();
            D.eventName(cell(row, "", "name"), s.name);
            cell(row, s.connections.map(function (c) { return c.client_name; }).join(", "));
        });
        $("no-subscriptions").hidden = subscriptions.length > 0;
        $("subscriptions").hidden = subscriptions.length === 0;
        $("n-events").textContent = subscriptions.length;
    }

    function drawRates() {
        var svg = D.clear($("chart"));
        var width = 600, height = 140;
        var peak = Math.max.apply(null, rates.map(function (r) { return r[1]; }).concat([1]));
        var scale = niceCeiling(peak);
        var now = Date.now(), span = SAMPLES * 2000;
        var points = rates.map(function (r) {
            var x = width - ((now - r[0]) / span) * width;
            return x.toFixed(1) + "," + (height - 4 - (r[1] / scale) * (height - 8)).toFixed(1);
        });
        var ns = "http://www.w3.org/2000/svg";
        [0.25, 0.5, 0.75].forEach(function (f) {
            var grid = document.createElementNS(ns, "line");
            grid.setAttribute("class", "grid");
            grid.setAttribute("x1", 0);
            grid.setAttribute("x2", width);
            grid.setAttribute("y1", height * f);
            grid.setAttribute("y2", height * f);
            svg.appendChild(grid);
        });
        if (points.length > 1) {
            var first = points[0].split(",")[0], last = points[points.length - 1].split(",")[0];
            var area = document.createElementNS(ns, "polygon");
            area.setAttribute("class", "area");
            area.setAttribute("points", first + "," + height + " " + points.join(" ") + " " + last + "," + height);
            svg.appendChild(area);
            var line = document.createElementNS(ns, "polyline");
            line.setAttribute("class", "line");
            line.setAttribute("points", points.join(" "));
            svg.appendChild(line);
        }
        $("chart-max").textContent = "top of chart: " + scale + "/s";
    }

    function niceCeiling(value) {
        var magnitude = Math.pow(10, Math.floor(Math.log10(value)));
        var steps = [1, 2, 5, 10];
        for (var i = 0; i < steps.length; i++) {
            if (value <= steps[i] * magnitude) {
                return steps[i] * magnitude;
            }
        }
        return 10 * magnitude;
    }

}(this));
