/*
 * The chart view: readings of one or more events over a range (1 h, 24 h,
 * 7 d, 30 d, 1 y, or from/to), from GET readings (raw points where there
 * are few, else min/max/mean per step), drawn by plot.js; live points are
 * appended while the range ends now; dragging across the chart zooms to
 * that range; CSV downloads what is shown, through the same route.
 * Its state is in the address (#chart?e=EVENT&e=EVENT%23FIELD&range=24h),
 * so a chart can be bookmarked; the key never is.
 */
(function (root) {
    "use strict";

    var D = root.PiCloudDash;
    var $ = D.$;
    var RANGES = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "1y": 365 * 86400};
    var chart = D.chart = {lines: [], range: "24h", from: 0, to: 0, plot: null, requests: {}, ready: false};
    var shownFor = null;      // the address the chart was loaded for
    var pickerFor = null;     // the recorded events the picker lists

    D.view("chart", {render: render, show: function () { D.invalidate("chart"); }});

    D.on("recorded", function () { D.invalidate("chart"); });
    D.on("theme", function () { if (chart.plot) { draw(); } });
    D.on("session", function (what) {
        D.stopLive();
        shownFor = null;
        D.invalidate("chart");
    });

    // #chart?e=a&e=b%23f&range=7d (or from=&to=, unix seconds)
    D.chartRoute = function (query) {
        var params = new URLSearchParams(query);
        var lines = params.getAll("e").map(function (e) {
            var hash = e.indexOf("#");
            return hash < 0 ? {event: e, field: null} : {event: e.slice(0, hash), field: e.slice(hash + 1)};
        });
        var from = Number(params.get("from")), to = Number(params.get("to"));
        chart.custom = from > 0 && to > from ? {from: from, to: to} : null;
        chart.range = chart.custom ? "custom" : (RANGES[params.get("range")] ? params.get("range") : "24h");
        chart.lines = lines;
        D.invalidate("chart");
    };

    function address(lines, range, custom) {
        var params = new URLSearchParams();
        lines.forEach(function (l) { params.append("e", l.field === null ? l.event : l.event + "#" + l.field); });
        if (custom) {
            params.set("from", Math.round(custom.from));
            params.set("to", Math.round(custom.to));
        } else {
            params.set("range", range);
        }
        return "#chart?" + params.toString();
    }

    // The state at once (a click right after this one sees it), then the
    // address, whose hashchange loads the chart.
    function go(lines, range, custom) {
        var to = address(lines, range, custom);
        D.chartRoute(to.slice(to.indexOf("?") + 1));
        location.hash = to;
    }

    function span() {
        if (chart.custom) {
            return chart.custom;
        }
        // Whole seconds, rounded up: a reading of this second is in.
        var now = Math.ceil(D.now());
        return {from: now - RANGES[chart.range], to: now};
    }

    function render() {
        renderPicker();
        var here = location.hash;
        if (D.started && here !== shownFor) {
            shownFor = here;
            load();
        }
    }

    function renderPicker() {
        var select = $("chart-event");
        var events = Object.keys(D.recorded).sort();
        if (pickerFor !== events.join("\n")) {
            pickerFor = events.join("\n");
            var chosen = select.value;
            D.clear(select);
            events.forEach(function (event) { select.appendChild(new Option(event, event)); });
            select.value = events.indexOf(chosen) >= 0 ? chosen : (chart.lines[0] ? chart.lines[0].event : events[0] || "");
            fillFields();
        }
        Array.prototype.forEach.call(document.querySelectorAll("#ranges button"), function (b) {
            b.setAttribute("aria-pressed", b.dataset.range === chart.range ? "true" : "false");
        });
        $("custom-range").hidden = chart.range !== "custom" && !$("custom-range").classList.contains("open");
        $("chart-empty").hidden = chart.lines.length > 0;
        $("chart-note").hidden = Object.keys(D.recorded).length > 0 || chart.lines.length > 0;
    }

    function fillFields() {
        var entry = D.recorded[$("chart-event").value];
        var fields = D.clear($("chart-field"));
        (entry ? entry.series : []).forEach(function (s) {
            fields.appendChild(new Option(s.field === "" ? "(the value)" : s.field, s.field));
        });
        fields.hidden = !entry || entry.series.length < 2;
    }

    // The lines to draw: a line without field stands for its event's first.
    function load() {
        var mine = D.generation;
        var range = span();
        chart.from = range.from;
        chart.to = range.to;
        var events = [];
        chart.lines.forEach(function (l) {
            if (events.indexOf(l.event) < 0) {
                events.push(l.event);
            }
        });
        chart.requests = {};
        chart.ready = false;
        $("chart-error").hidden = true;
        Promise.all(events.map(function (event) {
            var path = "readings?event=" + encodeURIComponent(event) + "&from=" + range.from + "&to=" + range.to;
            chart.requests[event] = path;
            return D.api(path);
        })).then(function (answers) {
            if (mine !== D.generation || chart.from !== range.from) {
                return;
            }
            var found = {}, errors = [];
            answers.forEach(function (answer, i) {
                if (answer.ok) {
                    found[events[i]] = answer.body;
                } else {
                    errors.push(events[i] + ": " + D.refusal(answer));
                }
            });
            $("chart-error").hidden = errors.length === 0;
            $("chart-error").textContent = errors.join("; ");
            chart.shown = linesOf(found);
            draw();
            chart.ready = true;  // what is drawn is what was asked for (the tests wait for it)
            if (!chart.custom) {  // a range in the past has nothing live to add
                D.startLive(chart, function () {
                    var range = span();
                    chart.from = range.from;
                    chart.to = range.to;
                });
            }
        });
    }

    function linesOf(found) {
        var shown = [];
        chart.lines.forEach(function (l) {
            var answer = found[l.event];
            var series = answer ? answer.series : [];
            var s = l.field === null ? series[0] : series.filter(function (x) { return x.field === l.field; })[0];
            if (!s) {
                return;
            }
            shown.push({event: l.event, field: s.field, unit: s.unit, raw: s.raw,
                        label: l.event + (s.field && series.length > 1 ? " " + s.field : ""),
                        t: s.t.slice(), mean: (s.raw ? s.value : s.mean).slice(),
                        min: s.raw ? null : s.min.slice(), max: s.raw ? null : s.max.slice()});
        });
        return shown;
    }

    function draw() {
        var into = $("plot");
        if (chart.plot) {
            chart.plot.destroy();
            chart.plot = null;
        }
        D.clear(into);
        renderChips();
        var shown = chart.shown || [];
        var points = shown.reduce(function (n, l) { return n + l.t.length; }, 0);
        $("chart-nodata").hidden = !(chart.lines.length && points === 0);
        if (!shown.length) {
            return;
        }
        chart.data = D.plotData(shown);
        chart.plot = D.makePlot(into, shown, chart.data, function () { return [chart.from, chart.to]; },
                                {setSelect: [zoomed]});
    }

    function zoomed(u) {
        if (u.select.width < 5) {
            return;
        }
        var from = u.posToVal(u.select.left, "x"), to = u.posToVal(u.select.left + u.select.width, "x");
        go(chart.lines, "custom", {from: from, to: to});
    }

    function renderChips() {
        var list = D.clear($("chart-lines"));
        chart.lines.forEach(function (l, i) {
            var chip = D.el("li", null, l.event + (l.field ? " " + l.field : ""));
            var swatch = D.el("span", "swatch");
            swatch.style.background = D.seriesColor(i);
            chip.insertBefore(swatch, chip.firstChild);
            var remove = D.el("button", null, "×");
            remove.type = "button";
            remove.title = "take " + l.event + " off the chart";
            remove.addEventListener("click", function () {
                go(chart.lines.filter(function (x) { return x !== l; }), chart.range, chart.custom);
            });
            chip.appendChild(remove);
            list.appendChild(chip);
        });
    }

    // -- the controls -----------------------------------------------------------------

    $("chart-event").addEventListener("change", fillFields);

    $("chart-add").addEventListener("click", function () {
        var event = $("chart-event").value;
        if (!event) {
            return;
        }
        var field = $("chart-field").hidden ? null : $("chart-field").value;
        var exists = chart.lines.some(function (l) { return l.event === event && l.field === field; });
        if (!exists) {
            go(chart.lines.concat([{event: event, field: field}]), chart.range, chart.custom);
        }
    });

    $("ranges").addEventListener("click", function (e) {
        var button = e.target.closest("button");
        if (!button) {
            return;
        }
        if (button.dataset.range === "custom") {
            var range = span();
            $("custom-from").value = localInput(range.from);
            $("custom-to").value = localInput(range.to);
            $("custom-range").classList.add("open");
            $("custom-range").hidden = false;
        } else {
            $("custom-range").classList.remove("open");
            go(chart.lines, button.dataset.range, null);
        }
    });

    function localInput(seconds) {
        var d = new Date(seconds * 1000);
        d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
        return d.toISOString().slice(0, 16);
    }

    $("custom-range").addEventListener("submit", function (e) {
        e.preventDefault();
        var from = Date.parse($("custom-from").value) / 1000, to = Date.parse($("custom-to").value) / 1000;
        if (!(to > from)) {
            $("chart-error").hidden = false;
            $("chart-error").textContent = "'to' must be after 'from'";
            return;
        }
        go(chart.lines, "custom", {from: from, to: to});
    });

    $("chart-csv").addEventListener("click", function () { D.downloadCsv(chart); });

    // A phone turned, a window resized: the chart as wide as its panel.
    root.addEventListener("resize", function () {
        D.nextFrame(function () {
            var into = $("plot");
            if (chart.plot && into.clientWidth && Math.abs(into.clientWidth - chart.plot.width) > 2) {
                chart.plot.setSize({width: into.clientWidth, height: into.clientWidth < 500 ? 240 : 340});
            }
        });
    });
}(this));
