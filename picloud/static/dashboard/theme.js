/*
 * Light or dark before the first paint (loaded in the page's head): the
 * system's choice (prefers-color-scheme, in dashboard.css) unless a person
 * chose the other with the header's toggle, remembered in localStorage.
 * data-theme on <html> holds an explicit choice; none means the system's.
 */
(function (root) {
    "use strict";

    var ITEM = "picloud.theme";
    var html = document.documentElement;
    var system = root.matchMedia ? root.matchMedia("(prefers-color-scheme: dark)") : null;

    function saved() {
        try {
            return root.localStorage.getItem(ITEM);
        } catch (err) {
            return null;  // storage refused: the system's choice
        }
    }

    function apply(choice) {
        if (choice === "dark" || choice === "light") {
            html.dataset.theme = choice;
        } else {
            delete html.dataset.theme;
        }
    }

    apply(saved());

    root.PiCloudTheme = {
        dark: function () {
            var choice = html.dataset.theme;
            return choice ? choice === "dark" : !!(system && system.matches);
        },
        // The other of light and dark; stored only while it is not the system's.
        toggle: function () {
            var next = this.dark() ? "light" : "dark";
            var systemDark = !!(system && system.matches);
            var choice = (next === "dark") === systemDark ? null : next;
            try {
                if (choice) {
                    root.localStorage.setItem(ITEM, choice);
                } else {
                    root.localStorage.removeItem(ITEM);
                }
            } catch (err) {
                // not remembered, still applied
            }
            apply(choice);
            return next;
        },
        onSystemChange: function (callback) {
            if (system && system.addEventListener) {
                system.addEventListener("change", callback);
            }
        }
    };
}(this));
