/*
 * The chart view's drawing, with uPlot (vendor/, MIT): lines of readings on
 * one time axis, each the mean (or the raw value) with its min/max band
 * behind it, a y scale per unit (the first two with an axis), values on
 * hover in the legend, colours from the page's theme.
 *
 * D.plotData(lines) joins the lines' columns on time (uPlot.join): line i
 * is {label, unit, t, mean, min?, max?}. Its series in the joined data are
 * recorded in line.index (mean) and line.band ([max, min]) for the tests
 * and for live points.
 */
(function (root) {
    "use strict";

    var D = root.PiCloudDash;

    function css(name) {
        return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    }

    D.seriesColor = function (i) {
        return css("--series-" + (i % 6 + 1)) || "#b5174b";
    };

    // The colour with an alpha, for the bands: #rrggbb -> rgba().
    function faded(color, alpha) {
        var m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
        if (!m) {
            return color;
        }
        return "rgba(" + parseInt(m[1], 16) + "," + parseInt(m[2], 16) + "," + parseInt(m[3], 16) + "," + alpha + ")";
    }

    D.plotData = function (lines) {
        var tables = [], at = 1;
        lines.forEach(function (line) {
            var table = [line.t, line.mean];
            line.index = at;
            if (line.min) {
                table.push(line.max, line.min);
                line.band = [at + 1, at + 2];
            } else {
                line.band = null;
            }
            at += table.length - 1;
            tables.push(table);
        });
        if (!tables.length) {
            return [[]];
        }
        return tables.length === 1 ? tables[0].slice() : root.uPlot.join(tables);
    };

    function valueFormat(unit) {
        return function (u, v) {
            return v === null || v === undefined ? "–" : D.number(v) + (unit ? " " + unit : "");
        };
    }

    // A uPlot in `into` for `lines` (after D.plotData), x from `range()`;
    // a selection dragged across it goes to hooks.setSelect.
    D.makePlot = function (into, lines, data, range, hooks) {
        var fg = css("--fg"), muted = css("--muted"), grid = css("--line");
        var units = [];
        var series = [{label: "time"}];
        var bands = [];
        lines.forEach(function (line, i) {
            var color = D.seriesColor(i);
            var scale = line.unit || "(no unit)";
            if (units.indexOf(scale) < 0) {
                units.push(scale);
            }
            // Points drawn where they are few and far apart (uPlot's own rule).
            series.push({label: line.label, scale: scale, stroke: color, width: 2, spanGaps: true,
                         value: valueFormat(line.unit)});
            if (line.band) {
                var edge = {scale: scale, stroke: faded(color, 0.35), width: 1, spanGaps: true, points: {show: false},
                            value: valueFormat(line.unit), class: "band-edge"};
                series.push(Object.assign({label: "max"}, edge), Object.assign({label: "min"}, edge));
                bands.push({series: line.band, fill: faded(color, 0.18)});
            }
        });
        var axes = [{stroke: muted, grid: {stroke: grid, width: 1}, ticks: {stroke: grid, width: 1}}];
        units.slice(0, 2).forEach(function (unit, i) {
            axes.push({scale: unit, side: i ? 1 : 3, stroke: muted, label: unit === "(no unit)" ? "" : unit,
                       labelSize: unit === "(no unit)" ? 0 : 18,
                       grid: {show: i === 0, stroke: grid, width: 1}, ticks: {stroke: grid, width: 1},
                       values: function (u, splits) { return splits.map(D.number); }, size: 56});
        });
        var scales = {x: {time: true, range: function () { return range(); }}};
        var width = Math.max(200, into.clientWidth);
        var opts = {
            width: width, height: width < 500 ? 240 : 340,
            series: series, bands: bands, axes: axes, scales: scales,
            legend: {live: true}, cursor: {drag: {x: true, y: false, setScale: false}}, focus: {alpha: 0.5},
            hooks: hooks || {}
        };
        into.classList.add("plot");
        var plot = new root.uPlot(opts, data, into);
        plot.root.style.color = fg;
        return plot;
    };
}(this));
