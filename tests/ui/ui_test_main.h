#pragma once
// Entry point for the GUI tests: picks the fast BLAS kernel like the programs do, keeps
// QSettings out of the user's configuration, then runs one QtTest class.
#include "blas_setup.h"

#include <QApplication>
#include <QStandardPaths>
#include <QTest>

#define NM_UI_TEST_MAIN(TestClass)                                                                                     \
    int main(int argc, char **argv)                                                                                    \
    {                                                                                                                  \
        nm::ensureFastBlas(argc, argv);                                                                                \
        QStandardPaths::setTestModeEnabled(true);                                                                      \
        QApplication app(argc, argv);                                                                                  \
        app.setOrganizationName(QStringLiteral("nmstudio-tests"));                                                     \
        app.setApplicationName(QStringLiteral(#TestClass));                                                            \
        TestClass tc;                                                                                                  \
        return QTest::qExec(&tc, argc, argv);                                                                          \
    }
