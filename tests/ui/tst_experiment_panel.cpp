// The experiment form: the default comparison, invalid values refused at the field with the
// reason (the option table's rules, as nmtrain applies them), recipes and seeds, live settings.
#include "ui_test_main.h"

#include "config_field.h"
#include "experiment_panel.h"
#include "live_panel.h"
#include "recipe_editor.h"

#include <QLabel>
#include <QLineEdit>
#include <QSignalSpy>
#include <QSpinBox>

using namespace nmui;

namespace {

// Types into a line edit as a user does and leaves the field.
void typeInto(QLineEdit *edit, const QString &text)
{
    edit->setFocus();
    edit->selectAll();
    QTest::keyClicks(edit, text);
    QTest::keyClick(edit, Qt::Key_Return);
}

QLineEdit *lineEdit(ExperimentPanel &p, const char *key)
{
    return p.findChild<QLineEdit *>(QString::fromLatin1(key));
}

} // namespace

class TestExperimentPanel : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void defaultComparison()
    {
        ExperimentPanel p;
        const auto runs = p.configs();
        QCOMPARE(runs.size(), size_t(3));
        QCOMPARE(runs[0].recipe, std::string("ste"));
        QCOMPARE(runs[1].recipe, std::string("srste"));
        QCOMPARE(runs[2].recipe, std::string("sste"));
        QCOMPARE(runs[1].name, std::string("SR-STE"));
        for (const auto &r : runs) {
            QCOMPARE(r.nm, std::string("2:4"));
            QCOMPARE(r.model, std::string("mlp"));
            QCOMPARE(r.data, std::string("fashion-mnist"));
            QCOMPARE(r.seed, uint64_t(1));
        }
        QVERIFY(p.isValid());
    }

    void invalidValuesAreRefusedWithTheReason()
    {
        ExperimentPanel p;
        p.show();
        QLineEdit *lr = lineEdit(p, "lr");
        QVERIFY(lr);
        typeInto(lr, QStringLiteral("fast"));
        QVERIFY(!p.isValid());
        QCOMPARE(p.field("lr")->error(), QStringLiteral("lr: expected a number, got 'fast'"));
        QVERIFY(p.configs().empty());
        typeInto(lr, QStringLiteral("500"));
        QVERIFY(p.field("lr")->error().contains(QStringLiteral("out of range; allowed [0, 100]")));
        typeInto(lr, QStringLiteral("0.1"));
        QVERIFY(p.isValid());
        QCOMPARE(p.configs().front().lr, 0.1);

        typeInto(lineEdit(p, "nm"), QStringLiteral("4:2"));
        QVERIFY(p.field("nm")->error().startsWith(QStringLiteral("nm: 4:2 is out of range")));
        typeInto(lineEdit(p, "nm"), QStringLiteral("1:8"));
        QVERIFY(p.isValid());
        QCOMPARE(p.configs().front().nm, std::string("1:8"));

        typeInto(lineEdit(p, "mlp_hidden"), QStringLiteral("256,-3"));
        QVERIFY(p.field("mlp_hidden")->error().contains(QStringLiteral("mlp_hidden")));
        typeInto(lineEdit(p, "mlp_hidden"), QStringLiteral("128"));
        QVERIFY(p.isValid());
        // A cross-field rule lands on the field it names.
        typeInto(lineEdit(p, "steps"), QStringLiteral("100"));
        typeInto(lineEdit(p, "warmup"), QStringLiteral("500"));
        QVERIFY(!p.isValid());
        QVERIFY(p.field("warmup")->error().contains(QStringLiteral("warmup: 500 exceeds steps 100")));
        // The error line under the field says it too.
        bool shown = false;
        for (QLabel *l : p.findChildren<QLabel *>())
            shown = shown || (l->isVisible() && l->text().contains(QStringLiteral("exceeds steps")));
        QVERIFY(shown);
    }

    void recipesAndTheirDefaults()
    {
        ExperimentPanel p;
        RecipeEditor *sr = p.recipes()[1];
        QCOMPARE(sr->recipe(), QStringLiteral("srste"));
        QCOMPARE(sr->field("lambda")->text(), QStringLiteral("0.0002"));
        sr->setValue("lambda", QStringLiteral("-1"));
        QVERIFY(!sr->validate(QStringLiteral("mlp")));
        QVERIFY(sr->field("lambda")->error().contains(QStringLiteral("out of range")));
        sr->resetToDefaults();
        QVERIFY(sr->validate(QStringLiteral("mlp")));
        sr->setValue("lambda", QStringLiteral("0.001"));
        RecipeEditor *mdgf = p.addRecipe(QStringLiteral("mdgf-exp"));
        QCOMPARE(mdgf->field("mdgf_fraction")->text(), QStringLiteral("0.5"));
        auto runs = p.configs();
        QCOMPARE(runs.size(), size_t(4));
        QCOMPARE(runs[1].lambda, 0.001);
        QCOMPARE(runs[3].recipe, std::string("mdgf-exp"));
        p.removeRecipe(p.recipes()[0]);
        QCOMPARE(p.configs().size(), size_t(3));
        // A comparison keeps at least one recipe.
        while (p.recipes().size() > 1)
            p.removeRecipe(p.recipes()[0]);
        p.removeRecipe(p.recipes()[0]);
        QCOMPARE(p.recipes().size(), 1);
    }

    void seedsExpandIntoRuns()
    {
        ExperimentPanel p;
        p.setSeeds(QStringLiteral("1-3"));
        const auto runs = p.configs();
        QCOMPARE(runs.size(), size_t(9));
        QCOMPARE(runs[0].name, std::string("STE s1"));
        QCOMPARE(runs[2].seed, uint64_t(3));
        p.setSeeds(QStringLiteral("one"));
        QVERIFY(!p.isValid());
        QVERIFY(p.firstError().contains(QStringLiteral("seeds")));
    }

    void modelSwitchMovesDefaults()
    {
        ExperimentPanel p;
        p.setValue("model", QStringLiteral("gpt"));
        QCOMPARE(p.field("data")->text(), QStringLiteral("text"));
        QCOMPARE(p.field("optimizer")->text(), QStringLiteral("adamw"));
        QCOMPARE(p.field("steps")->text(), QStringLiteral("2000"));
        p.setValue("gpt_heads", QStringLiteral("3"));
        QVERIFY(!p.isValid());
        QVERIFY(p.field("gpt_heads")->error().contains(QStringLiteral("does not divide gpt_width")));
    }

    void stateRoundTrips()
    {
        ExperimentPanel a;
        a.setValue("lr", QStringLiteral("0.02"));
        a.addRecipe(QStringLiteral("asp"))->setValue("asp_prune_at", QStringLiteral("0.3"));
        a.setSeeds(QStringLiteral("4,5"));
        ExperimentPanel b;
        b.restoreState(a.state());
        const auto ra = a.configs(), rb = b.configs();
        QCOMPARE(rb.size(), ra.size());
        for (size_t i = 0; i < ra.size(); ++i)
            QCOMPARE(QString::fromStdString(nm::configToJson(rb[i])), QString::fromStdString(nm::configToJson(ra[i])));
    }

    void liveSettingsRefuseInvalidValues()
    {
        LivePanel live;
        QSignalSpy applied(&live, &LivePanel::applied);
        typeInto(live.lrEdit(), QStringLiteral("-0.1"));
        QCOMPARE(applied.count(), 0);
        QVERIFY(live.error().contains(QStringLiteral("lr:")));
        typeInto(live.lrEdit(), QStringLiteral("0.02"));
        QCOMPARE(applied.count(), 1);
        QCOMPARE(live.values().lr, 0.02);
        QVERIFY(live.error().isEmpty());
    }
};

NM_UI_TEST_MAIN(TestExperimentPanel)
#include "tst_experiment_panel.moc"
