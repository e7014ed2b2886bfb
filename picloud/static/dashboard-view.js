/*
 * How the dashboard draws what the hub says: the chart, the device,
 * connection, subscription and retained-value tables and the tail. No state
 * and no network here; dashboard.js decides what to show and when.
 */
(function (root) {
    "use strict";

    function $(id) { return document.getElementById(id); }

    function drawChart(rates, samples) {
        var svg = $("chart");
        var width = 600, height = 140;
        var peak = Math.max.apply(null, rates.concat([1]));
        var scale = niceCeiling(peak);
        var step = width / (samples - 1);
        var x0 = width - (rates.length - 1) * step;
        var points = rates.map(function (r, i) {
            return (x0 + i * step).toFixed(1) + "," + (height - 4 - (r / scale) * (height - 8)).toFixed(1);
        });
        var ns = "http://www.w3.org/2000/svg";
        while (svg.firstChild) {
            svg.removeChild(svg.firstChild);
        }
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
            var area = document.createElementNS(ns, "polygon");
            area.setAttribute("class", "area");
            area.setAttribute("points", x0 + "," + height + " " + points.join(" ") + " " + width + "," + height);
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

    function cell(row, text, className) {
        var td = row.insertCell();
        td.textContent = text;
        if (className) {
            td.className = className;
        }
        return td;
    }

    function since(timestamp) {
        var seconds = Math.max(0, (Date.now() - Date.parse(timestamp)) / 1000);
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
    }

    function renderInfo(snapshot, ownName) {
        var connections = snapshot.all_connections || [];
        var others = connections.filter(function (c) { return c.client_name !== ownName; });
        var body = $("connections").tBodies[0];
        body.textContent = "";
        connections.forEach(function (c) {
            var row = body.insertRow();
            if (c.client_name === ownName) {
                row.className = "own";
            }
            cell(row, c.client_name);
            cell(row, c.ip_address);
            // MQTT clients say theirs (with keepalive and clean session); the others are websockets.
            var protocol = cell(row, c.protocol || "websocket");
            if (c.keepalive !== undefined) {
                protocol.title = "keepalive " + c.keepalive + " s" + (c.clean_session ? ", clean session" : ", persistent session");
            }
            var when = cell(row, since(c.connected_at), "when");
            when.title = new Date(c.connected_at).toLocaleString();
        });
        $("no-connections").hidden = others.length > 0;
        $("connections").hidden = connections.length === 0;
        $("n-connections").textContent = others.length;

        var subscriptions = snapshot.subscriptions || [];
        var subBody = $("subscriptions").tBodies[0];
        subBody.textContent = "";
        subscriptions.forEach(function (s) {
            var row = subBody.insertRow();
            cell(row, s.name);
            cell(row, s.connections.map(function (c) { return c.client_name; }).join(", "));
        });
        $("no-subscriptions").hidden = subscriptions.length > 0;
        $("subscriptions").hidden = subscriptions.length === 0;
        $("n-events").textContent = subscriptions.length;
    }

    function addTailRow(message, maxRows) {
        var body = $("tail").tBodies[0];
        var row = body.insertRow(0);
        row.dataset.event = message.event;
        cell(row, new Date().toLocaleTimeString(), "when").title = message.created_at;
        cell(row, message.event);
        cell(row, JSON.stringify(message.data), "data");
        while (body.rows.length > maxRows) {
            body.deleteRow(-1);
        }
        $("no-messages").hidden = true;
    }

    // frames: the hub's retained publish frames (GET retained), any order.
    function renderRetained(frames) {
        var body = $("retained").tBodies[0];
        body.textContent = "";
        frames.slice().sort(function (a, b) {
            return a.event < b.event ? -1 : a.event > b.event ? 1 : 0;
        }).forEach(function (frame) {
            var row = body.insertRow();
            row.dataset.event = frame.event;
            cell(row, frame.event);
            cell(row, JSON.stringify(frame.data), "data");
            cell(row, since(frame.created_at), "when").title = new Date(frame.created_at).toLocaleString();
        });
        $("no-retained").hidden = frames.length > 0;
        $("retained").hidden = frames.length === 0;
    }

    // devices: client name -> {online, since}, from the hub's presence events.
    function renderDevices(devices, ownName) {
        var names = Object.keys(devices).sort(function (a, b) {
            var byState = Number(devices[b].online) - Number(devices[a].online);
            return byState || (a < b ? -1 : a > b ? 1 : 0);
        });
        var body = $("devices").tBodies[0];
        body.textContent = "";
        names.forEach(function (name) {
            var device = devices[name];
            var row = body.insertRow();
            row.dataset.client = name;
            if (name === ownName) {
                row.className = "own";
            }
            cell(row, name);
            var state = cell(row, "");
            var badge = document.createElement("span");
            badge.className = "state " + (device.online ? "online" : "offline");
            badge.textContent = device.online ? "online" : "offline";
            state.appendChild(badge);
            cell(row, since(device.since), "when").title = new Date(device.since).toLocaleString();
        });
        $("no-devices").hidden = names.length > 0;
        $("devices").hidden = names.length === 0;
    }

    root.PiCloudView = {
        drawChart: drawChart, renderInfo: renderInfo, addTailRow: addTailRow,
        renderRetained: renderRetained, renderDevices: renderDevices
    };
}(this));
